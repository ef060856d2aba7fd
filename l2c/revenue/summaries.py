"""A closed month's revenue per product and per customer (`MonthRevenue`), for the revenue reports.

`write(close)` runs inside the close, after its postings and recognitions are written: per product, the
month's recognitions at their posting's rate (revenue_base / revenue_amount, the rate the ledger used), per
customer the postings' revenue_base — the same sums `selectors.revenue_by_month` made from the rows
themselves, grouped once. A closed month's postings and recognitions change only when it is reopened, which
deletes its rows (`delete`); closing it again writes them anew.
"""
from __future__ import annotations

from decimal import Decimal

from django.db.models import Case, DecimalField, ExpressionWrapper, F, Sum, Value, When

from l2c.core.bulk import insert_rows

from .models import MonthRevenue, PeriodClose, Recognition, RevenuePosting

WIDE = DecimalField(max_digits=38, decimal_places=12)
COLUMNS = ("close_id", "period", "dimension", "key", "amount")


def posting_rate():
    """Of a recognition: its posting's rate (company currency per unit of the contract's)."""
    from .selectors import Ratio

    return Case(When(posting__revenue_amount=0, then=Value(Decimal(1))),
                default=Ratio(F("posting__revenue_base"), F("posting__revenue_amount")), output_field=WIDE)


def write(close: PeriodClose) -> int:
    by_product = (Recognition.objects.filter(posting__close_id=close.pk).values(group=F("obligation__product_id"))
                  .annotate(total=Sum(ExpressionWrapper(F("amount") * posting_rate(), output_field=WIDE),
                                      output_field=WIDE)).order_by())
    by_customer = (RevenuePosting.objects.filter(close_id=close.pk)
                   .values(group=F("revenue_contract__account_id")).annotate(total=Sum("revenue_base")).order_by())
    rows = [(close.pk, close.period, dimension, row["group"], row["total"] or Decimal(0))
            for dimension, query in ((MonthRevenue.Dimension.PRODUCT, by_product),
                                     (MonthRevenue.Dimension.CUSTOMER, by_customer)) for row in query]
    insert_rows(MonthRevenue, COLUMNS, rows)
    return len(rows)


def delete(close: PeriodClose) -> None:
    MonthRevenue.objects.filter(close_id=close.pk).delete()
