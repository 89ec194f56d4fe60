"""API keys, the master key, scopes."""
