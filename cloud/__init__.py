"""The cloud aggregator that stores terminal events and serves HQ."""
