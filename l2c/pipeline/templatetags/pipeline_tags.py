"""Template helpers for the pipeline pages: money, sums per currency, durations."""
from __future__ import annotations

from django import template
from django.utils.translation import ngettext

from l2c.core.money import round_money

register = template.Library()


@register.filter
def money(amount, currency: str = "") -> str:
    """`1,234.50 USD`; empty amount → an em dash."""
    if amount is None or amount == "":
        return "—"
    currency = currency or ""
    value = round_money(amount, currency) if currency else amount
    return f"{value:,} {currency}".strip()


@register.filter
def totals(pairs) -> str:
    """Sums per currency: a dict {currency: amount} or [(currency, amount)] → `1,000.00 USD · 50.00 EUR`."""
    if not pairs:
        return "—"
    items = pairs.items() if hasattr(pairs, "items") else pairs
    return " · ".join(money(amount, currency) for currency, amount in items)


@register.filter
def duration(delta) -> str:
    """A stay in a stage: days, else hours, else minutes."""
    seconds = int(delta.total_seconds())
    if seconds >= 86400:
        days = seconds // 86400
        return ngettext("%(n)d day", "%(n)d days", days) % {"n": days}
    if seconds >= 3600:
        hours = seconds // 3600
        return ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours}
    minutes = max(seconds // 60, 0)
    return ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def field_labels(names) -> str:
    """Opportunity field names as their (translated) labels: `amount, expected_close_date` → `amount, expected close date`."""
    from l2c.pipeline.models import Opportunity

    labels = []
    for name in names or []:
        try:
            labels.append(str(Opportunity._meta.get_field(name).verbose_name))
        except Exception:  # noqa: BLE001 - a stale name in the configuration: show it as is
            labels.append(name)
    return ", ".join(labels)


@register.filter
def lead_source_label(value) -> str:
    """An opportunity's `source` (a lead source code kept from conversion) as its translated label."""
    from l2c.leads.choices import LeadSource

    return str(dict(LeadSource.choices).get(value, value)) if value else "—"
