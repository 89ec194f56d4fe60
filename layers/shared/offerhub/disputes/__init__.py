"""Disputes: a buyer or seller freezes an order's escrow; support decides how it is paid out."""
