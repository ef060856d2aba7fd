"""Duplicate groups, the merge screen and merge history in the UI and the API, per role."""
import uuid

import pytest
from django.test import Client

from l2c.customers.tests.factories import AccountFactory, ContactFactory
from l2c.leads.dedupe import services
from l2c.leads.dedupe.tasks import find_duplicates
from l2c.leads.models import DuplicateGroup, DuplicateScan, Lead, MergeRecord

from .factories import LeadFactory


def uniq() -> str:
    return uuid.uuid4().hex[:10]


def make_lead(owner, **kw):
    kw.setdefault("last_name", "L" + uniq())
    kw.setdefault("company", "Firm " + uniq())
    kw.setdefault("email", f"{uniq()}@{uniq()}.example")
    kw.setdefault("phone", "")
    return LeadFactory(owner=owner, **kw)


@pytest.fixture
def as_user():
    def login(user):
        client = Client()
        client.force_login(user)
        return client
    return login


@pytest.fixture
def world(rep, rep2, outsider):
    """rep has two leads for one person and a matching contact; rep2's lead shares rep's e-mail;
    the outsider has their own duplicate pair."""
    account = AccountFactory(owner=rep, name="Acme, Inc.")
    data = {
        "a": make_lead(rep, first_name="John", last_name="Smith", company="ACME Inc", email="john@acme.example"),
        "b": make_lead(rep, first_name="Jon", last_name="Smith", company="Acme, Inc.", title="CTO"),
        "contact": ContactFactory(owner=rep, account=account, first_name="John", last_name="Smith",
                                  email="john@acme.example"),
        "colleague": make_lead(rep2, first_name="Johnny", last_name="Smithers", email="john@acme.example"),
        "o1": make_lead(outsider, first_name="Zoë", last_name="Keller", email="zoe@keller.example"),
        "o2": make_lead(outsider, first_name="Zoe", last_name="Keller", email="ZOE@keller.example"),
    }
    scan = services.duplicate_scan_run(scan_id=None)
    assert scan.status == DuplicateScan.Status.DONE
    return data


def member_sets(payload):
    return [{(m["kind"], m["id"]) for m in g["members"]} for g in payload["items"]]


def test_groups_show_only_records_the_user_may_see(world, rep, outsider, manager, api_for):
    # rep: their two leads and their contact; never rep2's lead, although it shares the e-mail
    body = api_for(rep).get("/api/v1/leads/duplicates").json()
    assert member_sets(body) == [{("lead", world["a"].pk), ("lead", world["b"].pk), ("contact", world["contact"].pk)}]
    group = body["items"][0]
    assert group["kind"] == "mixed"
    texts = {r["text"] for p in group["pairs"] for r in p["reasons"]}
    assert "same e-mail" in texts and any(t.startswith("similar name and company") for t in texts)
    # the outsider sees only their pair
    body = api_for(outsider).get("/api/v1/leads/duplicates").json()
    assert member_sets(body) == [{("lead", world["o1"].pk), ("lead", world["o2"].pk)}]
    # the manager of rep and rep2 sees the colleague's lead in the group too (contacts: own team's)
    body = api_for(manager).get("/api/v1/leads/duplicates", {"kind": "mixed"}).json()
    assert ("lead", world["colleague"].pk) in member_sets(body)[0]
    assert api_for(manager).get("/api/v1/leads/duplicates", {"kind": "nonsense"}).status_code == 422


def test_contacts_duplicates_and_a_leads_possible_duplicates(world, rep, api_for):
    assert api_for(rep).get("/api/v1/contacts/duplicates").json() == {"items": [], "count": 0}
    matches = api_for(rep).get(f"/api/v1/leads/{world['a'].pk}/duplicates").json()
    refs = {(m["record"]["kind"], m["record"]["id"]) for m in matches}
    assert refs == {("lead", world["b"].pk), ("contact", world["contact"].pk)}
    assert api_for(rep).get(f"/api/v1/leads/{world['o1'].pk}/duplicates").status_code == 404


def test_scan_api_queues_and_reports(rep, finance, api_for, django_capture_on_commit_callbacks):
    make_lead(rep, email="same@x.example")
    make_lead(rep, email="same@x.example")
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(rep).post("/api/v1/leads/duplicates/scan", {"threshold": 92})
    assert response.status_code == 202
    latest = api_for(rep).get("/api/v1/leads/duplicates/scan").json()
    assert latest["status"] == "done" and latest["threshold"] == 92 and latest["groups_found"] == 1
    assert api_for(rep).post("/api/v1/leads/duplicates/scan", {"threshold": 20}).status_code == 422
    assert api_for(finance).get("/api/v1/leads/duplicates").status_code == 403


def test_nightly_task_runs_a_new_scan(rep):
    make_lead(rep, phone="+14155550100")
    make_lead(rep, phone="+14155550100")
    assert "done, 1 groups" in find_duplicates()
    assert DuplicateGroup.objects.count() == 1


def test_merge_and_undo_through_the_api(world, rep, api_for):
    a, b = world["a"], world["b"]
    response = api_for(rep).post("/api/v1/leads/merge", {"survivor_id": a.pk, "other_ids": [b.pk],
                                                         "field_choices": {"company": b.pk}})
    assert response.status_code == 201, response.content
    merge = response.json()
    assert merge["survivor_id"] == a.pk and merge["merged_ids"] == [b.pk]
    assert merge["changes"]["company"] == ["ACME Inc", "Acme, Inc."] and merge["changes"]["title"] == ["", "CTO"]
    assert api_for(rep).get(f"/api/v1/leads/{b.pk}").status_code == 404
    assert [m["id"] for m in api_for(rep).get("/api/v1/merges").json()["items"]] == [merge["id"]]
    undone = api_for(rep).post(f"/api/v1/merges/{merge['id']}/undo")
    assert undone.status_code == 200 and undone.json()["undo"] == {"kept_fields": [], "rows_not_returned": {}}
    again = api_for(rep).post(f"/api/v1/merges/{merge['id']}/undo")
    assert again.status_code == 409 and again["Content-Type"] == "application/problem+json"
    assert again.json()["code"] == "merge_undone"


def test_merge_api_refusals_are_problem_details(world, rep, outsider, finance, api_for):
    a, b = world["a"], world["b"]
    theirs = api_for(rep).post("/api/v1/leads/merge", {"survivor_id": a.pk, "other_ids": [world["o1"].pk]})
    assert theirs.status_code == 404 and theirs.json()["code"] == "not_found"
    itself = api_for(rep).post("/api/v1/leads/merge", {"survivor_id": a.pk, "other_ids": [a.pk]})
    assert itself.status_code == 422 and itself.json()["errors"][0]["code"] == "self_merge"
    unknown = api_for(rep).post("/api/v1/leads/merge", {"survivor_id": a.pk, "other_ids": [b.pk],
                                                        "field_choices": {"password": b.pk}})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "field_choices.password"
    assert api_for(finance).post("/api/v1/leads/merge", {"survivor_id": a.pk, "other_ids": [b.pk]}).status_code == 403
    merge = services.lead_merge(survivor=a, others=[b], actor=rep)
    assert api_for(outsider).post(f"/api/v1/merges/{merge.pk}/undo").status_code == 404
    assert api_for(outsider).get(f"/api/v1/merges/{merge.pk}").status_code == 404
    assert not Lead.objects.filter(merged_into__isnull=False).exclude(pk=b.pk).exists()


def test_contact_merge_through_the_api(rep, api_for):
    account = AccountFactory(owner=rep)
    keep, dup = ContactFactory(owner=rep, account=account), ContactFactory(owner=rep, account=account, title="CFO")
    response = api_for(rep).post("/api/v1/contacts/merge", {"survivor_id": keep.pk, "other_ids": [dup.pk]})
    assert response.status_code == 201 and response.json()["kind"] == "contact"
    assert api_for(rep).get(f"/api/v1/contacts/{dup.pk}").status_code == 404


# --- UI ----------------------------------------------------------------------------------------------

def test_duplicates_page_lists_groups_and_scan_now(world, rep, as_user, django_capture_on_commit_callbacks):
    client = as_user(rep)
    page = client.get("/leads/duplicates/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"/leads/merge/?ids={world['a'].pk},{world['b'].pk}" in html
    assert "same e-mail" in html and world["colleague"].last_name not in html
    assert client.get("/contacts/duplicates/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/leads/duplicates/scan/", {"threshold": "90"})
    assert response.status_code == 302
    assert DuplicateScan.objects.latest("id").status == DuplicateScan.Status.DONE


def test_merge_screen_review_confirm_result_and_undo(world, rep, as_user):
    client = as_user(rep)
    a, b = world["a"], world["b"]
    ids = f"{a.pk},{b.pk}"
    screen = client.get("/leads/merge/", {"ids": ids})
    assert screen.status_code == 200
    html = screen.content.decode()
    assert f'name="pick_title" value="{b.pk}" checked' in html  # a's title is empty: b's wins by default
    assert f'name="survivor" value="{a.pk}" checked' in html
    review = client.post("/leads/merge/", {"ids": ids, "step": "review", "survivor": a.pk, "pick_company": b.pk})
    assert review.status_code == 200 and "Confirm the merge" in review.content.decode()
    assert not MergeRecord.objects.exists()
    done = client.post("/leads/merge/", {"ids": ids, "step": "confirm", "survivor": a.pk, "pick_company": b.pk})
    merge = MergeRecord.objects.get()
    assert done.status_code == 302 and done["Location"] == f"/leads/merges/{merge.pk}/"
    a.refresh_from_db()
    assert a.company == "Acme, Inc." and a.title == "CTO"
    detail = client.get(done["Location"])
    assert detail.status_code == 200 and "Undo" in detail.content.decode()
    # the merged lead's page leads to the survivor
    assert client.get(f"/leads/{b.pk}/")["Location"] == f"/leads/{a.pk}/"
    assert client.get("/leads/merges/").status_code == 200
    undo = client.post(f"/leads/merges/{merge.pk}/undo/")
    assert undo.status_code == 302
    assert Lead.objects.get(pk=b.pk).merged_into_id is None
    assert client.get(f"/leads/{b.pk}/").status_code == 200


def test_merge_screen_refuses_other_peoples_records_and_bad_ids(world, rep, finance, as_user):
    client = as_user(rep)
    assert client.get("/leads/merge/", {"ids": f"{world['a'].pk},{world['o1'].pk}"}).status_code == 404
    assert client.get("/leads/merge/", {"ids": f"{world['a'].pk}"}).status_code == 302  # needs two
    assert client.get("/leads/merge/", {"ids": "1,x"}).status_code == 302
    assert as_user(finance).get("/leads/duplicates/").status_code == 403


def test_lead_page_shows_possible_duplicates(world, rep, as_user):
    html = as_user(rep).get(f"/leads/{world['a'].pk}/").content.decode()
    assert "Possible duplicates" in html
    assert f"/leads/merge/?ids={world['a'].pk},{world['b'].pk}" in html


def test_contact_merge_screen_and_merged_contact_redirects(rep, as_user):
    account = AccountFactory(owner=rep)
    keep, dup = ContactFactory(owner=rep, account=account), ContactFactory(owner=rep, account=account)
    client = as_user(rep)
    assert client.get("/contacts/merge/", {"ids": f"{keep.pk},{dup.pk}"}).status_code == 200
    response = client.post("/contacts/merge/", {"ids": f"{keep.pk},{dup.pk}", "step": "confirm",
                                                "survivor": keep.pk})
    assert response.status_code == 302
    assert client.get(f"/contacts/{dup.pk}/")["Location"] == f"/contacts/{keep.pk}/"


def test_duplicates_page_queries_do_not_grow_with_the_groups(rep, as_user, django_assert_max_num_queries):
    for i in range(12):
        make_lead(rep, email=f"twin{i}@x.example")
        make_lead(rep, email=f"twin{i}@x.example")
    services.duplicate_scan_run(scan_id=None)
    client = as_user(rep)
    with django_assert_max_num_queries(16):
        response = client.get("/leads/duplicates/")
    assert response.status_code == 200
    assert response.content.decode().count("twin") >= 24
