"""Pure cloud rules: ingest, projections, tiers, reports."""
