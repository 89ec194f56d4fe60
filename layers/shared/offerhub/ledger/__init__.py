"""The double-entry ledger: accounts with balances, and transactions whose lines sum to zero."""
