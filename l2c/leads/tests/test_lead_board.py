"""The lead board: columns per open status, hottest leads first, visibility, filters and the drag-and-drop move."""
import pytest
from django.urls import reverse

from l2c.leads import selectors
from l2c.leads.choices import LeadStatus
from l2c.leads.models import Lead

from .factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_columns_count_and_order_by_score_then_newest(rep, rep2):
    LeadFactory(owner=rep, status=LeadStatus.NEW, score=None, last_name="Unscored")
    LeadFactory(owner=rep, status=LeadStatus.NEW, score=35, last_name="Cold")
    LeadFactory(owner=rep, status=LeadStatus.NEW, score=91, last_name="Hot")
    LeadFactory(owner=rep, status=LeadStatus.QUALIFIED, score=70, last_name="Ready")
    LeadFactory(owner=rep, status=LeadStatus.DISQUALIFIED, score=99, last_name="Gone")
    LeadFactory(owner=rep2, status=LeadStatus.NEW, score=100, last_name="NotMine")

    columns = {c.status: c for c in selectors.lead_board(user=rep)}

    assert list(columns) == ["new", "working", "nurturing", "qualified"]
    assert [lead.last_name for lead in columns["new"].cards] == ["Hot", "Cold", "Unscored"]
    assert (columns["new"].count, columns["working"].count, columns["qualified"].count) == (3, 0, 1)


def test_board_caps_each_column_and_says_how_many_more(rep, monkeypatch):
    monkeypatch.setattr(selectors, "BOARD_CARDS_PER_COLUMN", 2)
    for score in (10, 20, 30):
        LeadFactory(owner=rep, status=LeadStatus.WORKING, score=score)

    working = next(c for c in selectors.lead_board(user=rep) if c.status == LeadStatus.WORKING)

    assert [lead.score for lead in working.cards] == [30, 20] and working.more == 1


def test_board_page_shows_scores_and_grades_with_filters(client, rep):
    LeadFactory(owner=rep, status=LeadStatus.NEW, score=85, last_name="Lovelace", country="GB")
    LeadFactory(owner=rep, status=LeadStatus.NEW, score=20, last_name="Hopper", country="US")
    client.force_login(rep)

    page = client.get(reverse("leads:lead-board"), {"country": "GB"}).content.decode()

    assert "Lovelace" in page and "Hopper" not in page
    assert 'class="badge grade-A"' in page


def test_move_changes_the_status_through_the_service(client, rep):
    lead = LeadFactory(owner=rep, status=LeadStatus.NEW, score=50)
    client.force_login(rep)

    response = client.post(reverse("leads:lead-board-move"), {"lead": lead.pk, "status": "working"},
                           HTTP_HX_REQUEST="true")

    assert response.status_code == 200 and f'id="lead-{lead.pk}"' in response.content.decode()
    lead.refresh_from_db()
    assert lead.status == LeadStatus.WORKING and lead.status_changed_at is not None


def test_a_refused_move_answers_why_and_changes_nothing(client, rep, rep2):
    converted = LeadFactory(owner=rep, status=LeadStatus.NURTURING)
    others = LeadFactory(owner=rep2, status=LeadStatus.NEW)
    client.force_login(rep)
    url = reverse("leads:lead-board-move")

    bad_status = client.post(url, {"lead": converted.pk, "status": "new"}, HTTP_HX_REQUEST="true")
    not_visible = client.post(url, {"lead": others.pk, "status": "working"}, HTTP_HX_REQUEST="true")
    without_script = client.post(url, {"lead": converted.pk, "status": "converted"})

    assert bad_status.status_code == 409 and "Cannot change a lead from nurturing to new" in bad_status.content.decode()
    assert not_visible.status_code == 404
    assert without_script.status_code == 302
    assert Lead.objects.get(pk=converted.pk).status == LeadStatus.NURTURING
    assert Lead.objects.get(pk=others.pk).status == LeadStatus.NEW


def test_finance_has_no_lead_board(client, finance):
    client.force_login(finance)
    assert client.get(reverse("leads:lead-board")).status_code == 403
