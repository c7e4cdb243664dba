"""deadlines.departments as scope tokens

The seeded task-table deadlines named department kinds in Chinese ("科技"), officers' deadlines
stored department ids ("12"). Both become scope tokens (see bot/departments.py): "kind:science",
"dept:12". The mapping is frozen here so later edits of data/department_kinds.json do not change
what this migration did.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 16:40:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# kind code -> name fragments, as in data/department_kinds.json on the day of this migration
KINDS = (
    ("market", ("市场监管", "市场监督管理", "知识产权")),
    ("education", ("教育",)),
    ("science", ("科技", "科学技术")),
    ("industry", ("工信", "工业和信息化", "工业信息化", "经信", "经济和信息化")),
    ("agriculture", ("农业农村", "农业", "农村")),
    ("health", ("卫健", "卫生健康", "卫生")),
    ("state_assets", ("国资", "国有资产")),
)
SEEDED_NAME = {"market": "市场监管", "education": "教育", "science": "科技", "industry": "工信",
               "agriculture": "农业农村", "health": "卫健", "state_assets": "国资"}


def to_token(value: str) -> str | None:
    v = str(value).strip()
    if v.startswith(("kind:", "dept:")):
        return v
    if v.isdigit():
        return f"dept:{int(v)}"
    for code, fragments in KINDS:
        if any(f in v for f in fragments):
            return f"kind:{code}"
    return None   # names no known department: dropped (the deadline stays visible to all)


def from_token(value: str) -> str:
    if value.startswith("dept:"):
        return value[5:]
    if value.startswith("kind:"):
        return SEEDED_NAME.get(value[5:], value[5:])
    return value


def _rewrite(convert) -> None:
    deadlines = sa.table("deadlines", sa.column("id", sa.Integer), sa.column("departments", sa.JSON))
    conn = op.get_bind()
    for did, deps in conn.execute(sa.select(deadlines.c.id, deadlines.c.departments)).all():
        new = list(dict.fromkeys(t for t in (convert(x) for x in (deps or [])) if t))
        if new != list(deps or []):
            conn.execute(deadlines.update().where(deadlines.c.id == did).values(departments=new))


def upgrade() -> None:
    _rewrite(to_token)


def downgrade() -> None:
    _rewrite(from_token)
