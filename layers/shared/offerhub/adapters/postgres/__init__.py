"""Postgres adapter: one engine per container, Core table definitions, migrations, the unit of work."""
