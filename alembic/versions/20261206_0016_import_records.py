"""imports that can be undone: a record per file import, and the import behind each fixture

`imports` records each file's import that added fixtures, and fixtures.import_id the import
that added each (or settled it, for an upcoming fixture given its result), so a partial
import can be deleted. Fixtures imported before this revision have none.

Downgrade drops the records; the fixtures stay.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fixtures_added", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
    )
    op.create_index(op.f("ix_imports_imported_at"), "imports", ["imported_at"])
    with op.batch_alter_table("fixtures") as batch_op:
        batch_op.add_column(sa.Column("import_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_fixtures_import_id"), ["import_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_fixtures_import_id_imports"),
            "imports",
            ["import_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("fixtures") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_fixtures_import_id_imports"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_fixtures_import_id"))
        batch_op.drop_column("import_id")
    op.drop_index(op.f("ix_imports_imported_at"), table_name="imports")
    op.drop_table("imports")
