"""Input types shared by every app's API router, so bad input is refused by the schema (a 422 naming
the parameter, documented in the OpenAPI schema) before it can reach the database.

- `RecordId`: a record id as a filter or body field: 1 .. 2**63-1. A larger number would overflow
  the database's integer (a crash on SQLite and PostgreSQL alike), a smaller one names no record.
- `LimitOffsetPagination`: ninja's paginator with bounded `limit` (1..MAX_LIMIT) and `offset`
  (0..MAX_ID); ninja's own leaves both unbounded above, and a huge one overflows the database's
  LIMIT/OFFSET. Use it exactly like ninja's: `@paginate(LimitOffsetPagination)`.
"""
from __future__ import annotations

from typing import Annotated

from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination as NinjaLimitOffsetPagination

from .validation import MAX_ID

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

RecordId = Annotated[int, Field(ge=1, le=MAX_ID, description="Record id")]


class LimitOffsetPagination(NinjaLimitOffsetPagination):
    """`?limit=&offset=` → `{"items": [...], "count": N}`, with both parameters bounded."""

    class Input(Schema):
        limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"Page size, 1 to {MAX_LIMIT}")
        offset: int = Field(0, ge=0, le=MAX_ID, description="Number of records to skip")

    def __init__(self, **kwargs):
        kwargs.setdefault("max_limit", MAX_LIMIT)
        super().__init__(**kwargs)
