"""Trustless Work speaks amounts as JSON numbers: written from Decimals and read back as Decimals
(offerhub.core.decimal_json, shared with the Airtm client)."""

from offerhub.core.decimal_json import dumps, loads

__all__ = ["dumps", "loads"]
