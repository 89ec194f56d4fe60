"""Marketplace users and the ledger accounts that hold their balance."""
