"""Template helpers for the quote pages: money and percentages, the quotes of an opportunity."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template

from l2c.pipeline.templatetags.pipeline_tags import money as _money

register = template.Library()


@register.filter
def money(amount, currency: str = "") -> str:
    """`1,234.50 CNY` (rounded to the currency's minor unit); empty → an em dash."""
    return _money(amount, currency)


@register.filter
def percent(value) -> str:
    """`12.5 %` from a Decimal or its string (trailing zeros dropped); empty → an em dash."""
    if value is None or value == "":
        return "—"
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    text = f"{number:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} %"


@register.filter
def quantity(value) -> str:
    """A quantity without useless decimals: `3`, `2.5`."""
    if value is None or value == "":
        return "—"
    text = f"{Decimal(str(value)).normalize():f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@register.simple_tag(takes_context=True)
def opportunity_quotes(context, opportunity):
    """`{% opportunity_quotes opportunity as quotes %}`: the opportunity's quotes the user may see,
    newest number first and, within a number, newest version first."""
    from l2c.quoting import selectors as quote_selectors

    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    if user is None or opportunity is None:
        return []
    qs = quote_selectors.quote_list(user, opportunity=opportunity.pk)
    return list(qs.order_by("-number", "-version")[:50])


@register.filter
def role_labels(roles) -> str:
    """["finance", "admin"] → `Finance, Admin` (translated role names)."""
    from l2c.core.visibility import Role

    names = dict(Role.choices)
    return ", ".join(str(names.get(role, role)) for role in roles or []) or "—"
