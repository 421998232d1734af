"""Cloud peewee models on SQLite or PostgreSQL."""
