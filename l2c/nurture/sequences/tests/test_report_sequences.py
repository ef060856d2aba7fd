"""The sequence report on a small made-up history: exact counts and rates per step and in total, in a fixed
number of queries."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from l2c.nurture.models import EmailMessage, Enrollment
from l2c.nurture.sequences.report import rate, sequence_report

from . import ui_fixtures

welcome, make_lead, active_sequence = ui_fixtures.welcome, ui_fixtures.make_lead, ui_fixtures.active_sequence

pytestmark = pytest.mark.django_db


def _message(enrollment, step, n, **fields):
    return EmailMessage.objects.create(enrollment=enrollment, step=step, lead_id=enrollment.lead_id,
                                       token=f"t{n}", message_id=f"<m{n}@example.com>", to_email="x@example.com",
                                       from_email="s@example.com", subject="Hi", **fields)


def test_rates_have_one_decimal_and_none_without_a_base():
    assert (rate(1, 3), rate(2, 3), rate(1, 6), rate(0, 0), rate(3, 3)) == (33.3, 66.7, 16.7, None, 100.0)


def test_report_counts_and_rates_per_step_and_in_total(active_sequence, make_lead, django_assert_max_num_queries):
    # given: four leads enrolled ten days ago
    t0 = timezone.now() - dt.timedelta(days=10)
    day = dt.timedelta(days=1)
    first, _wait, third = list(active_sequence.steps.order_by("position"))
    leads = [make_lead() for _ in range(4)]
    enrollments = [Enrollment.objects.create(sequence=active_sequence, lead=lead, **state) for lead, state in zip(
        leads, [{"status": "completed"}, {"status": "exited", "exit_reason": "replied"},
                {"status": "active", "position": 3}, {"status": "active", "position": 2}], strict=True)]
    Enrollment.objects.update(enrolled_at=t0)
    # step 1 went to all four: 3 opened, 2 clicked, 1 replied
    _message(enrollments[0], first, 1, status="sent", sent_at=t0 + day, opened_at=t0 + 2 * day, clicked_at=t0 + 2 * day)
    _message(enrollments[1], first, 2, status="sent", sent_at=t0 + day, opened_at=t0 + 2 * day, replied_at=t0 + 3 * day)
    _message(enrollments[2], first, 3, status="sent", sent_at=t0 + day, opened_at=t0 + 2 * day, clicked_at=t0 + 2 * day)
    _message(enrollments[3], first, 4, status="sent", sent_at=t0 + day)
    # step 3: sent to lead 0, bounced for lead 3
    _message(enrollments[0], third, 5, status="sent", sent_at=t0 + 4 * day)
    _message(enrollments[3], third, 6, status="bounced", bounced_at=t0 + 4 * day)
    # lead 0 converted after both its messages, lead 2 after step 1, lead 1 before anything was sent
    for lead, when in ((leads[0], t0 + 5 * day), (leads[2], t0 + 2 * day), (leads[1], t0 - day)):
        type(lead).objects.filter(pk=lead.pk).update(status="converted", converted_at=when)
    # when
    with django_assert_max_num_queries(8):
        data = sequence_report(sequence=active_sequence)
    # then
    step1, step2, step3 = data["steps"]
    assert step1.counts == {"messages": 4, "sent": 4, "opened": 3, "clicked": 2, "replied": 1, "bounced": 0,
                            "converted": 2}
    assert step1.rates == {"opened": 75.0, "clicked": 50.0, "replied": 25.0, "converted": 50.0, "bounced": 0.0}
    assert (step1.waiting, step2.waiting, step3.waiting) == (0, 1, 1)
    assert step2.kind == "wait" and step2.rates == {} and step2.counts["messages"] == 0
    assert step3.counts == {"messages": 2, "sent": 1, "opened": 0, "clicked": 0, "replied": 0, "bounced": 1,
                            "converted": 1}
    assert step3.rates == {"opened": 0.0, "clicked": 0.0, "replied": 0.0, "converted": 100.0, "bounced": 50.0}
    totals = data["totals"]
    assert {k: totals[k] for k in ("messages", "sent", "opened", "clicked", "replied", "bounced", "converted")} == {
        "messages": 6, "sent": 5, "opened": 3, "clicked": 2, "replied": 1, "bounced": 1, "converted": 2}
    assert totals["rates"] == {"opened": 60.0, "clicked": 40.0, "replied": 20.0, "converted": 40.0, "bounced": 16.7}
    assert (totals["enrolled"], totals["active"], totals["completed"], totals["exited"]) == (4, 2, 1, 1)
    assert totals["converted_after_enrolment"] == 2 and totals["conversion_rate"] == 50.0
    assert data["exits"] == {"replied": 1}
