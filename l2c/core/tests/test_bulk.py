"""core.bulk: ids reserved as a block, rows streamed in, columns set per row — on SQLite and PostgreSQL alike."""
import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from l2c.core import audit
from l2c.core.bulk import allocate_ids, insert_objects, insert_rows, update_columns
from l2c.core.models import AuditEvent
from l2c.customers.models import Account
from l2c.ledger.models import ExchangeRate

pytestmark = pytest.mark.django_db

AWKWARD = ['quote " and \\ backslash', "comma, {brace}", "中文名称 Ltd", "", "NULL", "'single'"]


def test_update_columns_sets_each_row_its_own_value_whatever_the_text():
    accounts = [Account.objects.create(name=f"A{i}") for i in range(len(AWKWARD))]
    update_columns(Account, ["name", "description"], [(a.pk, text or "x", text) for a, text in zip(accounts, AWKWARD,
                                                                                                  strict=True)])
    for account, text in zip(accounts, AWKWARD, strict=True):
        account.refresh_from_db()
        assert (account.name, account.description) == (text or "x", text)


def test_update_columns_sets_decimals_dates_and_nulls():
    rates = [ExchangeRate.objects.create(currency="USD", date=dt.date(2026, 1, d), rate=Decimal(1)) for d in (1, 2)]
    update_columns(ExchangeRate, ["rate", "date"], [(rates[0].pk, Decimal("7.1234567891"), dt.date(2026, 2, 1)),
                                                    (rates[1].pk, Decimal("0.0000000001"), dt.date(2026, 2, 2))])
    assert list(ExchangeRate.objects.order_by("pk").values_list("rate", "date")) == [
        (Decimal("7.1234567891"), dt.date(2026, 2, 1)), (Decimal("0.0000000001"), dt.date(2026, 2, 2))]
    update_columns(ExchangeRate, ["created_by"], [(rates[0].pk, None)])
    assert ExchangeRate.objects.get(pk=rates[0].pk).created_by is None


def test_ids_come_as_an_unused_block_and_objects_go_in_with_their_timestamps():
    existing = Account.objects.create(name="first")
    with transaction.atomic():
        ids = allocate_ids(Account, 3)
        assert len(set(ids)) == 3 and min(ids) > existing.pk
        insert_objects([Account(pk=pk, name=name) for pk, name in zip(ids, AWKWARD, strict=False)])
    made = Account.objects.filter(pk__in=ids).order_by("pk")
    assert [a.name for a in made] == AWKWARD[:3]
    assert all(a.created_at is not None and a.updated_at is not None for a in made)
    assert Account.objects.create(name="after").pk > max(ids)  # the sequence moved past the block


@pytest.mark.django_db(transaction=True)
def test_ids_are_reserved_only_inside_a_transaction():
    with pytest.raises(RuntimeError):
        allocate_ids(Account, 1)
    with transaction.atomic():
        assert allocate_ids(Account, 0) == []


def test_rows_with_json_columns_are_stored_and_sealed():
    now = timezone.now()
    with transaction.atomic():
        insert_rows(AuditEvent, ["occurred_at", "actor_label", "action", "object_type", "object_id", "object_repr",
                                 "changes"],
                    [(now, "system", "create", "x.y", "1", "one",
                      {"name": [None, "中文 \"quoted\""]})])
        audit.record_bulk([audit.PendingEvent("create", "x.y", "2", "two", {"amount": [None, Decimal("1.50")]})])
    first, second = AuditEvent.objects.filter(object_type="x.y").order_by("id")
    assert first.changes == {"name": [None, "中文 \"quoted\""]}
    assert first.occurred_at == now
    assert second.changes == {"amount": [None, "1.50"]} and second.actor_label == "system"
    assert audit.verify_chain()[1] is None
