"""Disputes are assigned to a support agent (upstream's POST /disputes/{id}/assign): status UNDER_REVIEW between
OPEN and RESOLVING, and who took the dispute and when.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UPGRADE = r"""
ALTER TABLE disputes DROP CONSTRAINT disputes_status_check;
ALTER TABLE disputes ADD CONSTRAINT disputes_status_check
    CHECK (status IN ('OPEN', 'UNDER_REVIEW', 'RESOLVING', 'RESOLVED'));
ALTER TABLE disputes
    ADD COLUMN assigned_to text CHECK (length(assigned_to) BETWEEN 1 AND 255),
    ADD COLUMN assigned_at timestamptz,
    ADD CONSTRAINT disputes_assignment_whole CHECK ((assigned_to IS NULL) = (assigned_at IS NULL));
"""

DOWNGRADE = r"""
UPDATE disputes SET status = 'OPEN' WHERE status = 'UNDER_REVIEW';
ALTER TABLE disputes DROP CONSTRAINT disputes_assignment_whole, DROP COLUMN assigned_at, DROP COLUMN assigned_to;
ALTER TABLE disputes DROP CONSTRAINT disputes_status_check;
ALTER TABLE disputes ADD CONSTRAINT disputes_status_check CHECK (status IN ('OPEN', 'RESOLVING', 'RESOLVED'));
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
