"""The keypad-first cashier screen."""
