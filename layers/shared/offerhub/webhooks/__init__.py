"""Provider webhooks coming in: signature checks over the raw bytes (verify)."""
