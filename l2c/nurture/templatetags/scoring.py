"""Template tags that show lead scores on the leads app's pages (the leads app does not import nurture)."""
from django import template

from ..scoring import engine, selectors

register = template.Library()


@register.filter
def score_grade(score) -> str:
    """The grade (A–D) of a score, "" when unscored: {{ lead.score|score_grade }}."""
    return engine.grade_for(score)


@register.inclusion_tag("nurture/_lead_score.html")
def lead_score_panel(lead):
    """The lead's score, grade, rule score and the factors pushing it up and down, in plain words."""
    return {"detail": selectors.lead_score(lead=lead)}
