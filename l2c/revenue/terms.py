"""The service terms of ratable obligations (`ServiceTerm`), kept for the MRR report.

`refresh(revenue_contracts)` rewrites the terms of those contracts from their obligations; it runs whenever a
contract gets a schedule version (`services._write_version`: registration, modification, credit, termination,
regrouping — every change of an obligation's price or dates makes one), inside the same transaction. Deleted
obligations take their term with them (CASCADE). `rebuild()` rewrites them all (the migration that added the
table, bulk loaders that write obligations directly).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from l2c.core.bulk import insert_rows

from . import engine
from .models import Method, PerformanceObligation, ServiceTerm

DAYS_PER_MONTH = Decimal(365) / Decimal(12)
FIELDS = ("pk", "revenue_contract_id", "revenue_contract__account_id", "product_id", "revenue_contract__currency",
          "allocated_amount", "start_date", "end_date", "ended_on")
COLUMNS = ("obligation_id", "revenue_contract_id", "account_id", "product_id", "currency", "first_end", "gone_at",
           "monthly")


def term_of(start: dt.date, end: dt.date, ended_on: dt.date | None, allocated: Decimal):
    """(first month end, first month end no longer served, allocated per average month), or None for a service
    of no day at all (ended before it started)."""
    last = min(end, ended_on) if ended_on else end
    days = (last - start).days + 1
    if days <= 0:
        return None
    return engine.month_end(start), engine.month_end(last + dt.timedelta(days=1)), allocated * DAYS_PER_MONTH / days


def _rows(obligations):
    for pk, rc_id, account_id, product_id, currency, allocated, start, end, ended_on in (
            obligations.values_list(*FIELDS).iterator(chunk_size=5000)):
        found = term_of(start, end, ended_on, allocated)
        if found is not None:
            yield (pk, rc_id, account_id, product_id, currency, *found)


def _ratable():
    return PerformanceObligation.objects.filter(method=Method.RATABLE, start_date__isnull=False,
                                                end_date__isnull=False)


def refresh(revenue_contract_ids) -> None:
    ids = list(revenue_contract_ids)
    ServiceTerm.objects.filter(revenue_contract_id__in=ids).delete()
    # read first: the connection cannot run the query while it streams the rows in (COPY on PostgreSQL)
    insert_rows(ServiceTerm, COLUMNS, list(_rows(_ratable().filter(revenue_contract_id__in=ids))))


def rebuild() -> None:
    ServiceTerm.objects.all().delete()
    insert_rows(ServiceTerm, COLUMNS, list(_rows(_ratable().order_by("pk"))))
