"""The terminal's durable SQLite store: journal, ledger, outbox, caches."""
