"""Sandbox rails: stand-ins for Stellar Horizon (and, with crypto mode, Trustless Work) that the real
clients talk to unchanged. Used by `make run` and the tests instead of testnet."""
