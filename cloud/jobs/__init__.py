"""Cloud jobs: points expiry, tier downgrade, duplicate-member merge; scheduled or on demand."""
