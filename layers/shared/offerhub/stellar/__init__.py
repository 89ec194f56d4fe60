"""Stellar: the Horizon adapter (stellar-sdk) and the USDC facts the domain needs."""
