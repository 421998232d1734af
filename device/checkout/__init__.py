"""Pure checkout domain: money, barcodes, cart, pricing, loyalty, returns, staff, shifts."""
