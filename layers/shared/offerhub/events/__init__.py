"""The event log: every domain change appends an event in the same transaction (a transactional outbox)."""
