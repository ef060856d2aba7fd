"""Pagination that never counts a million rows.

An exact `COUNT(*)` over a big table is the slowest query of a list page on PostgreSQL (MVCC: every
row is visited). `CappedPaginator` counts at most `cap` rows past the requested page: below that the
count is exact; above it, `count_capped` is true and the page shows "10,000+" (or "page 200 of
more than 400") instead of an invented total. Every page is still reachable (Next keeps working
past the cap), and the cost is bounded by the page asked for, like the OFFSET that fetches it.

With `ids_first=True` a page is read in two queries: the ids of the page (which PostgreSQL answers
from a covering index, however deep the page), then those rows with their joins. A deep OFFSET
then skips index entries instead of whole rows.

Used with `includes/pagination_capped.html`.
"""
from __future__ import annotations

from functools import cached_property

from django.conf import settings
from django.core.paginator import InvalidPage, Page, Paginator

COUNT_CAP = 10_000


class CappedPaginator(Paginator):
    def __init__(self, object_list, per_page, *, cap: int | None = None, ids_first: bool = False, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.cap = cap or COUNT_CAP
        self.ids_first = ids_first and hasattr(object_list, "values_list")
        self.wanted = 1

    @cached_property
    def count_limit(self) -> int:
        """Rows counted at most: the cap, or more when the requested page lies beyond it."""
        return max(self.cap, self.wanted * self.per_page) + 1

    @cached_property
    def count(self) -> int:
        qs = self.object_list
        if hasattr(qs, "order_by"):
            return qs.order_by()[: self.count_limit].count()
        return min(len(qs), self.count_limit)

    @property
    def count_capped(self) -> bool:
        """True when there are more rows than were counted; `count` is then a lower bound."""
        return self.count >= self.count_limit

    @property
    def count_shown(self) -> int:
        """The number to print, followed by "+" when `count_capped`."""
        return self.count_limit - 1 if self.count_capped else self.count

    def page(self, number) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if not self.count_capped and top + self.orphans >= self.count:
            top = self.count
        if not self.ids_first:
            return CappedPage(self.object_list[bottom:top], number, self)
        ids = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        rows = self.object_list.order_by().in_bulk(ids)
        return CappedPage([rows[pk] for pk in ids if pk in rows], number, self)

    def get_page(self, number) -> Page:
        try:
            self.wanted = max(int(number), 1)
        except (TypeError, ValueError):
            self.wanted = 1
        for name in ("count", "count_limit", "num_pages"):
            self.__dict__.pop(name, None)
        try:
            return self.page(self.validate_number(number))
        except InvalidPage:
            return super().get_page(number)


class CappedPage(Page):
    def end_index(self) -> int:
        return self.start_index() + len(self) - 1 if len(self) else 0


def capped_page(request, qs, *, per_page: int | None = None, cap: int | None = None, ids_first: bool = False) -> Page:
    """The requested `?page=` of `qs` with a capped count (for lists over big tables)."""
    paginator = CappedPaginator(qs, per_page or settings.L2C_PAGE_SIZE, cap=cap, ids_first=ids_first)
    return paginator.get_page(request.GET.get("page"))
