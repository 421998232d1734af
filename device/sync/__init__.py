"""MQTT sync between the terminal's outbox and the cloud."""
