"""Airtm Enterprise API v2: the fiat on/off ramp (payins top up, payouts withdraw; reference/providers.md §B)."""
