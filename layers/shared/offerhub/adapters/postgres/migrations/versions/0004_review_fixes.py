"""Fixes from the black-box review: a dispute comment says who wrote it (BUYER, SELLER or SUPPORT); USDC
an operator sends to the platform wallet is a deposit too (no user: it funds `platform:fees`, the float that
pays the fees of whole refunds).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = r"""
ALTER TABLE stellar_deposits ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE dispute_comments
    ADD COLUMN author_role text NOT NULL DEFAULT 'SUPPORT' CHECK (author_role IN ('BUYER', 'SELLER', 'SUPPORT'));
"""

DOWNGRADE = r"""
DELETE FROM stellar_deposits WHERE user_id IS NULL;
ALTER TABLE stellar_deposits ALTER COLUMN user_id SET NOT NULL;
ALTER TABLE dispute_comments DROP COLUMN author_role;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
