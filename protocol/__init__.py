"""The wire contract shared by terminal and cloud: topics, envelopes, schemas."""
