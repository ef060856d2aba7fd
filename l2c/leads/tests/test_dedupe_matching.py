"""The duplicate matcher: exact e-mail and phone, fuzzy company-plus-name inside blocks, union-find groups."""
import random
import string

import pytest

from l2c.leads.dedupe import matching
from l2c.leads.dedupe.matching import CONTACT, LEAD, Candidate, find_groups, find_pairs, group_pairs


def lead(pk, first="", last="", **kw):
    return Candidate(LEAD, pk, first, last, **kw)


def pair_refs(pairs):
    return {(p.a, p.b) for p in pairs}


def codes(pairs, a, b):
    for p in pairs:
        if {p.a, p.b} == {a, b}:
            return {r["code"] for r in p.reasons}
    return set()


def test_same_email_ignoring_case_and_gmail_dots_and_tags():
    pairs = find_pairs([
        lead(1, "Ann", "Lee", email="Ann.Lee@Gmail.com"),
        Candidate(CONTACT, 2, "A.", "Lee", email="annlee+news@googlemail.com"),
        lead(3, "Ann", "Lee", email="ann.lee@example.com"),
    ])
    assert codes(pairs, (LEAD, 1), (CONTACT, 2)) == {"email"}
    assert codes(pairs, (LEAD, 1), (LEAD, 3)) == set()  # same name, no company: namesakes, not duplicates
    assert pairs[0].score == 100
    assert matching.reason_text(pairs[0].reasons[0]) == "same e-mail"


def test_same_phone_also_against_a_contacts_mobile():
    pairs = find_pairs([
        lead(1, "Bo", "Chen", phones=("+8613812345678",)),
        Candidate(CONTACT, 7, "Bo", "Chen", phones=("+862155550000", "+8613812345678")),
        lead(2, "Other", "Person", phones=("+8613812345679",)),
    ])
    assert pair_refs(pairs) == {((CONTACT, 7), (LEAD, 1))}
    assert codes(pairs, (LEAD, 1), (CONTACT, 7)) == {"phone"}


def test_fuzzy_company_and_name_acme_inc_variants():
    pairs = find_pairs([
        lead(1, "John", "Smith", company="ACME Inc", country="US"),
        lead(2, "Jon", "Smith", company="Acme, Inc.", country="US"),
    ])
    assert len(pairs) == 1
    reason = pairs[0].reasons[0]
    assert reason["code"] == "name_company" and 90 <= reason["score"] < 100
    assert matching.reason_text(reason) == f"similar name and company {reason['score']}%"


def test_chinese_names_split_or_in_one_field_and_company_suffixes():
    pairs = find_pairs([
        lead(1, "伟", "王", company="阿里巴巴有限公司", country="CN"),
        Candidate(CONTACT, 2, "", "王伟", company="阿里巴巴", country="CN"),
        lead(3, "芳", "王", company="阿里巴巴有限公司", country="CN"),  # another person at the same company
    ])
    assert pair_refs(pairs) == {((CONTACT, 2), (LEAD, 1))}
    assert pairs[0].score == 100


def test_different_people_at_one_long_named_company_stay_apart():
    pairs = find_pairs([
        lead(1, "Li", "Wei", company="International Business Machines Corporation"),
        lead(2, "Li", "Na", company="International Business Machines Corporation"),
    ], threshold=80)
    assert pairs == []


def test_threshold_decides():
    records = [lead(1, "John", "Smith", company="ACME Inc"), lead(2, "Jon", "Smith", company="Acme, Inc.")]
    score = find_pairs(records, threshold=90)[0].score
    assert find_pairs(records, threshold=score)  # at the threshold: a match
    assert find_pairs(records, threshold=score + 1) == []  # above it: none
    with pytest.raises(ValueError):
        find_pairs(records, threshold=101)


def test_a_typo_in_the_company_prefix_is_caught_by_the_name_block():
    pairs = find_pairs([
        lead(1, "Margaret", "Thompson", company="Acme Robotics", country="GB"),
        lead(2, "Margaret", "Thompson", company="Akme Robotics", country="GB"),
    ])
    assert codes(pairs, (LEAD, 1), (LEAD, 2)) == {"name_company"}


def test_huge_blocks_are_split_without_missing_the_obvious_pair(monkeypatch):
    # given 400 people at companies starting "acm" (one block) and a block limit of 50
    monkeypatch.setattr(matching, "MAX_BLOCK", 50)
    rnd = random.Random(7)

    def word(n):
        return "".join(rnd.choice(string.ascii_lowercase) for _ in range(n))

    records = [lead(i, word(6), word(8), company=f"Acm{word(5)} GmbH", country="DE") for i in range(1, 401)]
    records.append(lead(1000, "Klaus", "Obermeier", company="Acmetrix GmbH", country="DE"))
    records.append(lead(1001, "Klaus", "Obermeyer", company="ACMETRIX GmbH", country="DE"))
    # when
    pairs = find_pairs(records)
    # then
    assert codes(pairs, (LEAD, 1000), (LEAD, 1001)) == {"name_company"}


def test_an_address_shared_by_many_people_is_not_a_duplicate_signal():
    records = [lead(i, f"P{i}", f"Q{i}", email="info@bigcorp.example") for i in range(matching.MAX_EXACT_BUCKET + 1)]
    assert find_pairs(records) == []
    assert len(find_pairs(records[:3])) == 2  # a few sharing it still match (a star: first with each)


def test_a_converted_lead_and_the_contact_it_became_are_not_duplicates():
    records = [lead(1, "Ann", "Lee", email="ann@x.example", converted_contact_id=5),
               Candidate(CONTACT, 5, "Ann", "Lee", email="ann@x.example"),
               Candidate(CONTACT, 6, "Ann", "Lee", email="ann@x.example")]
    assert pair_refs(find_pairs(records)) == {((CONTACT, 5), (CONTACT, 6)), ((CONTACT, 6), (LEAD, 1))}


def test_union_find_groups_connected_records():
    records = [lead(1, "A", "One", email="a@x.example"), lead(2, "B", "Two", email="a@x.example",
                                                                 phones=("+14155550100",)),
               lead(3, "C", "Three", phones=("+14155550100",)), lead(4, "D", "Four", email="d@x.example"),
               Candidate(CONTACT, 9, "D", "Four", email="d@x.example")]
    groups = find_groups(records)
    assert [g.members for g in groups] == [[(LEAD, 1), (LEAD, 2), (LEAD, 3)], [(CONTACT, 9), (LEAD, 4)]]
    kinds = {tuple(g.members): g.kind for g in groups}
    assert kinds[((CONTACT, 9), (LEAD, 4))] == "mixed"
    assert kinds[((LEAD, 1), (LEAD, 2), (LEAD, 3))] == LEAD
    assert group_pairs([]) == []


def test_twenty_thousand_leads_with_planted_duplicates():
    """Performance sanity: ~20k generated leads run through every pass in a few seconds, and every
    planted duplicate (typo in the name, other e-mail case, reformatted company) is found."""
    rnd = random.Random(2024)
    firsts = ["James", "Mary", "Wei", "Fang", "Ahmed", "Sofia", "Lukas", "Emma", "Hiroshi", "Olga", "Carlos", "Priya"]
    countries = ["US", "CN", "DE", "GB", "FR", "IN", "JP", "BR"]

    def word(n):
        return "".join(rnd.choice(string.ascii_lowercase) for _ in range(n)).capitalize()

    companies = [f"{word(7)} {rnd.choice(['Inc', 'GmbH', 'Ltd', 'SA', ''])}".strip() for _ in range(3000)]
    records = []
    for i in range(20000):
        records.append(lead(i, rnd.choice(firsts), word(8), email=f"{word(6).lower()}{i}@{word(5).lower()}.example",
                            phones=(f"+1415{rnd.randrange(10**7):07d}",), company=rnd.choice(companies),
                            country=rnd.choice(countries)))
    planted = []
    for k in range(0, 600, 3):
        src = records[k]
        twin = lead(100000 + k, src.first_name, src.last_name[:-1] + "x", email="", phones=(),
                    company=src.company.upper() + ",", country=src.country)
        records.append(twin)
        planted.append((src.ref, twin.ref))
    groups = find_groups(records)
    found = {frozenset((p.a, p.b)) for g in groups for p in g.pairs}
    assert all(frozenset(pair) in found for pair in planted)
