"""Escrow: the order's money in a Trustless Work contract on Stellar, moved by resumable steps."""
