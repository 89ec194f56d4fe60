"""Stellar USDC deposits: the blockchain monitor credits each incoming payment exactly once."""
