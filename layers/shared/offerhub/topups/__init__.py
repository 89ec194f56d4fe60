"""Top-ups: fiat pay-ins through Airtm (airtm mode)."""
