"""Alembic migrations, run by the `migrate` function on deploy and by the local stack on start."""

from __future__ import annotations

from pathlib import Path

from offerhub.adapters.postgres.engine import normalize_url

_HERE = Path(__file__).resolve().parent


def _config(database_url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    # ConfigParser interpolation would choke on "%" in passwords.
    cfg.set_main_option("sqlalchemy.url", normalize_url(database_url).replace("%", "%%"))
    return cfg


def upgrade_to_head(database_url: str) -> str:
    """Apply every pending migration; safe to call on every start. Returns the head revision."""
    from alembic import command
    from alembic.script import ScriptDirectory

    cfg = _config(database_url)
    command.upgrade(cfg, "head")
    return str(ScriptDirectory.from_config(cfg).get_current_head())
