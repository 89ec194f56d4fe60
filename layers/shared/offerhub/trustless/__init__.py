"""Trustless Work (escrow-as-a-service on Soroban): the v1 REST client and its wire format."""
