"""Template helpers for pages of earlier stages that link to orders (the contract page)."""
from __future__ import annotations

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def contract_orders(context, contract):
    """`{% contract_orders contract as orders %}`: the contract's orders the current user may see."""
    from l2c.orders.selectors import orders_for_contract

    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or contract is None:
        return []
    return list(orders_for_contract(user=user, contract_id=contract.pk))
