"""MQTT ingest workers that store events and acknowledge terminals."""
