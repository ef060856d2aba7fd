"""A full re-score on PostgreSQL writes the id ranges on writer threads while the next range is computed: the
stored result is the same as one thread's, and a failed write stops the run with each written range whole."""
from __future__ import annotations

import datetime as dt
import random
import threading

import pytest
from django.db import connection, transaction

from l2c.leads.models import Lead, Touch
from l2c.nurture.models import LeadScore, ScoringRule
from l2c.nurture.scoring import services

# the writer thread has its own connection: it only sees committed rows
pytestmark = pytest.mark.django_db(transaction=True)

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def _data(n: int = 60) -> list[int]:
    for values in (
        {"kind": "fit", "field": "country", "operator": "in", "value": "CN,DE", "points": 25},
        {"kind": "fit", "field": "title", "operator": "contains", "value": "intern", "points": -30},
        {"kind": "engagement", "touch_kind": "form_submission", "points": 10, "half_life_days": 30, "cap": 25},
        {"kind": "engagement", "touch_kind": "page_visit", "points": 2, "half_life_days": 14},
    ):
        ScoringRule.objects.create(**services.clean_rule(values))  # without queueing a re-score on commit
    rng = random.Random(5)
    leads = Lead.objects.bulk_create([
        Lead(last_name=f"L{i}", country=rng.choice(["CN", "DE", "US", ""]), title=rng.choice(["CTO", "Intern", ""]))
        for i in range(n)])
    Touch.objects.bulk_create([
        Touch(lead=lead, kind=kind, occurred_at=NOW - dt.timedelta(days=rng.choice([0, 7, 45])))
        for lead in leads for kind in ("form_submission", "page_visit") for _k in range(rng.choice([0, 1, 3]))])
    return [lead.pk for lead in leads]


def _stored() -> dict:
    scores = dict(Lead.objects.values_list("pk", "score"))
    return {row[0]: (scores[row[0]], *row[1:]) for row in LeadScore.objects.values_list(
        "lead_id", "score", "rule_score", "fit", "engagement", "probability", "grade", "factors", "scored_at")}


def _writer_threads(monkeypatch) -> list[str]:
    names: list[str] = []
    write = services._write

    def spy(lo, hi, batch, now):
        names.append(threading.current_thread().name)
        return write(lo, hi, batch, now)

    monkeypatch.setattr(services, "_write", spy)
    return names


def test_overlapped_rescore_stores_what_one_thread_stores(monkeypatch):
    # given
    ids = _data()
    threads = _writer_threads(monkeypatch)
    # when: many ranges, outside a transaction (overlapped on PostgreSQL)
    assert services.rescore_all(now=NOW, batch=7) == len(ids)
    overlapped = _stored()
    # then
    assert len(threads) == len(list(services.id_ranges(7))) > 1
    if connection.vendor == "postgresql":
        assert all(name.startswith("rescore-write") for name in threads)
    else:
        assert set(threads) == {threading.main_thread().name}
    LeadScore.objects.all().delete()
    Lead.objects.update(score=None)
    threads.clear()
    with transaction.atomic():  # inside a transaction the ranges are written by this thread
        services.rescore_all(now=NOW, batch=7)
    assert set(threads) == {threading.current_thread().name}
    assert _stored() == overlapped
    assert set(overlapped) == set(ids) and len({row[0] for row in overlapped.values()}) > 3


def test_a_failed_write_stops_the_run_and_keeps_each_range_whole(monkeypatch):
    # given: 8 ranges of 10 leads; the third write fails
    ids = _data(80)
    write = services._write
    calls, written = [], []

    def failing(lo, hi, batch, now):
        calls.append(lo)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        write(lo, hi, batch, now)
        written.append((lo, hi))

    monkeypatch.setattr(services, "_write", failing)
    # when
    with pytest.raises(RuntimeError, match="disk full"):
        services.rescore_all(now=NOW, batch=10)
    # then: the run stopped; every range that was written is whole, the failed one is not written at all
    assert len(calls) < len(list(services.id_ranges(10))) == 8
    in_written = sorted(pk for pk in ids if any(lo <= pk < hi for lo, hi in written))
    assert len(in_written) == 10 * len(written) >= 20
    assert sorted(LeadScore.objects.values_list("lead_id", flat=True)) == in_written
    assert sorted(Lead.objects.filter(score__isnull=False).values_list("pk", flat=True)) == in_written
    assert not LeadScore.objects.filter(lead_id__gte=calls[2], lead_id__lt=calls[2] + 10).exists()
