"""Sequence pages: list, create/edit with step rows, the sequence page with its report, enrollments with
unenrol, the enrol form with its count, and the lead page's panel — for managers and reps."""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from l2c.nurture.models import Enrollment, Sequence
from l2c.nurture.sequences import services

from . import ui_fixtures

welcome, make_lead, active_sequence = ui_fixtures.welcome, ui_fixtures.make_lead, ui_fixtures.active_sequence

pytestmark = pytest.mark.django_db


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def _form(rows, **fields):
    data = {"name": "Onboarding", "description": "", "from_name": "", "from_email": "", "exit_on_reply": "on",
            "exit_on_conversion": "on", "steps-TOTAL_FORMS": str(len(rows)), "steps-INITIAL_FORMS": "0",
            "steps-MIN_NUM_FORMS": "0", "steps-MAX_NUM_FORMS": "50", **fields}
    for index, row in enumerate(rows):
        for name in ("kind", "template", "wait_days", "wait_hours", "task_subject", "task_due_days", "condition",
                     "condition_value", "if_true", "if_false"):
            data[f"steps-{index}-{name}"] = row.get(name, "")
    return data


def test_pages_render_for_manager_and_rep(manager, rep, active_sequence, make_lead):
    services.enroll(sequence=active_sequence, actor=rep, leads=[make_lead()])
    for user in (manager, rep):
        client = _client(user)
        for url in ("/nurture/sequences/", f"/nurture/sequences/{active_sequence.pk}/",
                    f"/nurture/sequences/{active_sequence.pk}/enrollments/",
                    f"/nurture/sequences/{active_sequence.pk}/enroll/"):
            response = client.get(url)
            assert response.status_code == 200, (user, url)
    listing = _client(rep).get("/nurture/sequences/").content.decode()
    assert "Onboarding" in listing and 'href="/nurture/sequences/new/"' not in listing
    assert 'href="/nurture/sequences/"' in _client(rep).get("/nurture/").content.decode()  # the sub-navigation
    assert _client(manager).get("/nurture/sequences/new/").status_code == 200
    assert _client(manager).get(f"/nurture/sequences/{active_sequence.pk}/edit/").status_code == 200


def test_finance_and_anonymous_are_refused(finance, active_sequence):
    assert _client(finance).get("/nurture/sequences/").status_code == 403
    assert Client().get("/nurture/sequences/").status_code == 302


def test_manager_creates_a_sequence_with_step_rows(manager, welcome):
    response = _client(manager).post("/nurture/sequences/new/", _form([
        {"kind": "email", "template": welcome.pk}, {}, {"kind": "wait", "wait_days": "2"},
        {"kind": "task", "task_subject": "Call", "task_due_days": "1"}]))
    assert response.status_code == 302
    sequence = Sequence.objects.get()
    assert list(sequence.steps.values_list("position", "kind")) == [(1, "email"), (2, "wait"), (3, "task")]


def test_a_bad_step_is_shown_beside_its_row(manager, welcome):
    response = _client(manager).post("/nurture/sequences/new/", _form([
        {"kind": "email", "template": welcome.pk}, {"kind": "wait"}]))
    assert response.status_code == 422 and not Sequence.objects.exists()
    page = response.content.decode()
    assert "Wait at least one hour" in page and 'class="step-row field-error"' in page


def test_add_a_step_adds_a_row_without_saving(manager, welcome):
    response = _client(manager).post("/nurture/sequences/new/", _form([{"kind": "email", "template": welcome.pk}],
                                                                      add_step="1"))
    assert response.status_code == 200 and not Sequence.objects.exists()
    assert 'name="steps-1-kind"' in response.content.decode()


def test_rep_cannot_create_edit_or_move(rep, active_sequence, welcome):
    client = _client(rep)
    assert client.get("/nurture/sequences/new/").status_code == 403
    assert client.post("/nurture/sequences/new/", _form([{"kind": "email", "template": welcome.pk}])).status_code == 403
    assert client.get(f"/nurture/sequences/{active_sequence.pk}/edit/").status_code == 403
    assert client.post(f"/nurture/sequences/{active_sequence.pk}/pause/").status_code == 403
    assert client.post(f"/nurture/sequences/{active_sequence.pk}/delete/").status_code == 403
    active_sequence.refresh_from_db()
    assert active_sequence.status == "active"


def test_status_buttons(manager, active_sequence):
    client = _client(manager)
    assert client.post(f"/nurture/sequences/{active_sequence.pk}/pause/").status_code == 302
    active_sequence.refresh_from_db()
    assert active_sequence.status == "paused"
    edit = client.get(f"/nurture/sequences/{active_sequence.pk}/edit/").content.decode()
    assert 'name="add_step"' in edit  # paused: the steps can be changed
    client.post(f"/nurture/sequences/{active_sequence.pk}/archive/")
    active_sequence.refresh_from_db()
    assert active_sequence.status == "archived"
    response = client.post(f"/nurture/sequences/{active_sequence.pk}/activate/", follow=True)
    assert "cannot become" in response.content.decode()
    assert client.post(f"/nurture/sequences/{active_sequence.pk}/teleport/").status_code == 404


def test_enrol_form_counts_then_enrols_the_filtered_leads(rep, rep2, active_sequence, make_lead):
    make_lead(country="FR"), make_lead(country="FR"), make_lead(country="FR", owner=rep2), make_lead(country="IT")
    client = _client(rep)
    page = client.get(f"/nurture/sequences/{active_sequence.pk}/enroll/", {"country": "FR"}).content.decode()
    assert '<strong class="matching-count">2</strong>' in page and 'name="country" value="FR"' in page
    response = client.post(f"/nurture/sequences/{active_sequence.pk}/enroll/", {"country": "FR"}, follow=True)
    assert "2 enrolled, 0 already enrolled." in response.content.decode()
    assert Enrollment.objects.filter(source="filter").count() == 2
    response = client.post(f"/nurture/sequences/{active_sequence.pk}/enroll/", {"status": "sleepy"})
    assert response.status_code == 200 and Enrollment.objects.count() == 2


def test_unenrol_button(rep, rep2, active_sequence, make_lead):
    lead, other = make_lead(), make_lead(owner=rep2)
    services.enroll(sequence=active_sequence, actor=None, leads=[lead, other])
    mine, theirs = Enrollment.objects.get(lead=lead), Enrollment.objects.get(lead=other)
    client = _client(rep)
    page = client.get(f"/nurture/sequences/{active_sequence.pk}/enrollments/").content.decode()
    assert lead.full_name in page and other.full_name not in page
    base = f"/nurture/sequences/{active_sequence.pk}/enrollments"
    assert client.post(f"{base}/{theirs.pk}/unenroll/").status_code == 404
    assert client.post(f"{base}/{mine.pk}/unenroll/").status_code == 302
    mine.refresh_from_db()
    assert (mine.status, mine.exit_reason) == ("exited", "unenrolled")


def test_lead_page_shows_enrollments_and_enrols(rep, active_sequence, make_lead):
    lead = make_lead()
    client = _client(rep)
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert 'id="lead-sequences"' in page and "Not in any sequence." in page and "Onboarding</option>" in page
    response = client.post(f"/nurture/sequences/enroll-lead/{lead.pk}/", {"sequence": active_sequence.pk})
    assert response.status_code == 302 and response["Location"] == f"/leads/{lead.pk}/"
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Not in any sequence." not in page and "Onboarding</option>" not in page and "Unenrol" in page
    enrollment = Enrollment.objects.get()
    response = client.post(f"/nurture/sequences/{active_sequence.pk}/enrollments/{enrollment.pk}/unenroll/",
                           {"back": "lead"})
    assert response["Location"] == f"/leads/{lead.pk}/"


def test_lead_page_enrol_reports_why_a_lead_was_skipped(rep, active_sequence, make_lead):
    lead = make_lead(consent_basis="", consent_at=None)
    response = _client(rep).post(f"/nurture/sequences/enroll-lead/{lead.pk}/", {"sequence": active_sequence.pk},
                                 follow=True)
    assert "was not enrolled: no lawful basis to e-mail" in response.content.decode()
    assert not Enrollment.objects.exists()


def test_a_rep_cannot_enrol_another_reps_lead_from_its_page(rep, rep2, active_sequence, make_lead):
    other = make_lead(owner=rep2)
    assert _client(rep).post(f"/nurture/sequences/enroll-lead/{other.pk}/",
                             {"sequence": active_sequence.pk}).status_code == 404
    assert not Enrollment.objects.exists()


def test_sequence_page_shows_the_report(manager, active_sequence):
    page = _client(manager).get(f"/nurture/sequences/{active_sequence.pk}/").content.decode()
    assert "report-table" in page and "Welcome" in page and "Waiting here" in page


def test_they_replied_marks_the_last_sent_e_mail_and_exits_the_enrolment(client, rep, active_sequence, make_lead):
    from django.utils import timezone

    from l2c.nurture.models import EmailMessage, Enrollment

    lead = make_lead()
    enrollment = Enrollment.objects.create(sequence=active_sequence, lead=lead, position=2,
                                           next_run_at=timezone.now())
    step = active_sequence.steps.get(position=1)
    sent = EmailMessage.objects.create(token="t" * 32, message_id="<t@example.com>", enrollment=enrollment, step=step,
                                       lead=lead, to_email=lead.email, from_email="a@example.com", subject="Hi",
                                       status="sent", sent_at=timezone.now())
    client.force_login(rep)
    page = client.get(reverse("leads:lead-detail", args=[lead.pk])).content.decode()
    assert "They replied" in page

    response = client.post(reverse("nurture:enrollment-replied", args=[active_sequence.pk, enrollment.pk]))

    assert response.status_code == 302
    sent.refresh_from_db()
    enrollment.refresh_from_db()
    assert sent.replied_at is not None
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "replied")
    assert lead.touches.filter(kind="email_reply").count() == 1
