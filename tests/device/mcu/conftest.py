"""tests/device/mcu/fw holds MicroPython unittest modules: run by test_firmware.py, not pytest."""

collect_ignore = ["fw"]
