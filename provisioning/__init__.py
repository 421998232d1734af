"""The technicians' provisioning CLI."""
