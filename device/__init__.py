"""The point-of-sale terminal that runs on the Raspberry Pi."""
