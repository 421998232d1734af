"""Cloud jobs: points expiry, tier downgrade and duplicate-member merge, on a schedule or on demand."""
