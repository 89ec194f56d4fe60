"""Test helpers for the sandbox rails (404 unless SANDBOX_CONTROL_URL is configured)."""
