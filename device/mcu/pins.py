"""How the I/O board is wired: GPIO numbers on an RP2040 board (e.g. a Raspberry Pi Pico)."""

# Keypad matrix: up to 6 rows x 8 columns; a layout uses the first rows and columns.
ROW_PINS = (2, 3, 4, 5, 6, 7)
COL_PINS = (8, 9, 10, 11, 12, 13, 14, 15)
# Drawer: relay driver input (high = solenoid on) and the open switch (to ground when open).
RELAY_PIN = 16
SWITCH_PIN = 17
SWITCH_OPEN_LEVEL = 0
# Piezo buzzer, driven by PWM.
BUZZER_PIN = 18
# Pole display on UART1.
DISPLAY_UART = 1
DISPLAY_TX = 20
DISPLAY_RX = 21
DISPLAY_BAUD = 9600
# Link to the Pi: "usb" (USB CDC, the board's own USB port) or "uart" (UART0 on GP0/GP1).
LINK = "usb"
LINK_UART = 0
LINK_TX = 0
LINK_RX = 1
LINK_BAUD = 115200
# Hardware watchdog: the main loop passes every millisecond or so.
WATCHDOG_MS = 2000
