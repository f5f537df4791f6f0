"""A minimal Django site for the framework tests: real middleware, sessions, auth (SQLite)."""
