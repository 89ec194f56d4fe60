"""Marketplace orders: the buyer's money is reserved, held in escrow, then released or refunded."""
