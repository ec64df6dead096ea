"""Test support that starts real servers (a private PostgreSQL)."""
