"""The lead page's sequences panel (the leads app does not import nurture): the lead's enrollments, an
unenrol button on the active ones and an "Enrol in sequence" control."""
from django import template

from ..sequences import selectors, services

register = template.Library()


@register.inclusion_tag("nurture/sequences/_lead_panel.html", takes_context=True)
def lead_sequences_panel(context, lead):
    user = context.get("user")
    if not services.can_view(user):
        return {"hidden": True, "lead": lead, "enrollments": [], "sequences": []}
    enrollments = selectors.lead_enrollments(user=user, lead=lead)
    active = {e.sequence_id for e in enrollments if e.status == "active"}
    sequences = [s for s in selectors.enrollable_sequences(user=user) if s.pk not in active]
    return {"lead": lead, "enrollments": enrollments, "sequences": sequences}
