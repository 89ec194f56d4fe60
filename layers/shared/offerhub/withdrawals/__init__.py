"""Withdrawals: money out, to an Airtm account (airtm mode) or a Stellar address (crypto mode)."""
