"""Demo nurture set-up: lead scoring rules (so the lead list, board and pages show scores and grades at once),
two e-mail templates in English and Chinese, and a welcome sequence ready to enrol leads into.

Nobody is enrolled: the embedded default has no mail server, and a demo should not queue e-mail to
addresses it made up. Enrol leads from a lead's page or the sequence's "Enrol leads" page once EMAIL_HOST
points at a server (or at a local test sink).
"""
from __future__ import annotations

WELCOME_EN = """<p>Hello {{ lead.first_name|default:"there" }},</p>
<p>Thank you for your interest in {{ company.name }}. Most teams like {{ lead.company|default:"yours" }} start with
our <a href="https://www.l2c-demo.example/guide">five-minute guide</a>.</p>
<p>Best regards,<br>{{ owner.name|default:"The team" }}</p>
<p><small><a href="{{ unsubscribe_url }}">Unsubscribe</a></small></p>"""
WELCOME_ZH = """<p>{{ lead.last_name }}{{ lead.first_name }}，您好：</p>
<p>感谢您关注{{ company.name }}。像{{ lead.company|default:"贵公司" }}这样的团队通常从
<a href="https://www.l2c-demo.example/zh/guide">五分钟入门指南</a>开始。</p>
<p>此致<br>{{ owner.name|default:"销售团队" }}</p>
<p><small><a href="{{ unsubscribe_url }}">退订</a></small></p>"""
FOLLOW_UP_EN = """<p>Hi {{ lead.first_name|default:"there" }},</p>
<p>Would a 20-minute call next week help {{ lead.company|default:"your team" }}? Reply to this e-mail with a time
that suits you.</p><p>{{ owner.name|default:"The team" }}</p>
<p><small><a href="{{ unsubscribe_url }}">Unsubscribe</a></small></p>"""
FOLLOW_UP_ZH = """<p>{{ lead.last_name }}{{ lead.first_name }}，您好：</p>
<p>下周安排一次 20 分钟的电话沟通是否方便？请直接回复本邮件告知合适的时间。</p><p>{{ owner.name|default:"销售团队" }}</p>
<p><small><a href="{{ unsubscribe_url }}">退订</a></small></p>"""

SCORING_RULES = [
    {"name": "Decision maker", "kind": "fit", "field": "title", "operator": "in",
     "value": "CEO, CFO, CTO, COO, Founder, VP Sales, Head of Sales, 总经理, 首席执行官", "points": 25},
    {"name": "Mid-size or larger", "kind": "fit", "field": "company_size", "operator": "gte", "value": "51",
     "points": 15},
    {"name": "Software or financial services", "kind": "fit", "field": "industry", "operator": "in",
     "value": "Software, Financial services", "points": 10},
    {"name": "Came through a web form", "kind": "fit", "field": "source", "operator": "equals",
     "value": "web_form", "points": 10},
    {"name": "Form fills", "kind": "engagement", "touch_kind": "form_submission", "points": 15, "cap": 30,
     "half_life_days": 60},
    {"name": "E-mail clicks", "kind": "engagement", "touch_kind": "email_click", "points": 5, "cap": 20,
     "half_life_days": 30},
    {"name": "E-mail opens", "kind": "engagement", "touch_kind": "email_open", "points": 1, "cap": 10,
     "half_life_days": 14},
]


def ensure_demo_nurture(users: dict) -> dict[str, int]:
    """Create the demo rules, templates and sequence once (nothing when any template already exists); the
    numbers created. Leads are scored by the rules at once."""
    from l2c.nurture import services as nurture
    from l2c.nurture.models import EmailTemplate, ScoringRule
    from l2c.nurture.scoring import services as scoring
    from l2c.nurture.sequences import services as sequences

    admin = users["admin"]
    if EmailTemplate.objects.exists() or ScoringRule.objects.exists():
        return {}
    for values in SCORING_RULES:
        scoring.rule_create(actor=admin, **values)
    welcome = nurture.template_create(actor=admin, name="Welcome", description="First e-mail of the welcome sequence",
                                      versions=[{"language": "en", "subject": "Welcome, {{ lead.first_name }}",
                                                 "html": WELCOME_EN},
                                                {"language": "zh-hans", "subject": "欢迎您，{{ lead.last_name }}{{ lead.first_name }}",
                                                 "html": WELCOME_ZH}])
    follow_up = nurture.template_create(actor=admin, name="Follow-up: book a call",
                                        versions=[{"language": "en", "subject": "A short call next week?",
                                                   "html": FOLLOW_UP_EN},
                                                  {"language": "zh-hans", "subject": "下周简短通个电话？",
                                                   "html": FOLLOW_UP_ZH}])
    sequence = sequences.sequence_create(actor=admin, name="Welcome sequence",
                                         description="Welcome e-mail, then a call task for leads who opened it, "
                                                     "else a follow-up e-mail.")
    sequences.steps_replace(actor=admin, sequence=sequence, steps=[
        {"kind": "email", "template": welcome.pk},
        {"kind": "wait", "wait_days": 3},
        {"kind": "branch", "condition": "opened", "if_true": 4, "if_false": 5},
        {"kind": "task", "task_subject": "Call: opened the welcome e-mail", "task_due_days": 1},
        {"kind": "email", "template": follow_up.pk},
    ])
    sequences.sequence_activate(actor=admin, sequence=sequence)
    scoring.rescore_all()
    return {"scoring rules": len(SCORING_RULES), "e-mail templates": 2, "sequence": 1}
