"""MicroPython firmware for the optional I/O board (runs on the microcontroller)."""
