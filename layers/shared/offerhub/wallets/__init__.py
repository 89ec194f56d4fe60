"""Invisible Stellar wallets (crypto mode): one per user, plus the platform's own."""
