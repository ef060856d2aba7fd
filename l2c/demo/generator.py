"""Build the demo data set directly on the models, in bulk.

How it stays fast at a million leads:
- every random value comes from one `random.Random(seed)` picking from pools built once
  (`pools.build_pools`), never from Faker per row;
- rows get their primary keys from counters that start after the current maximum, so a lead, its
  account, contact, opportunity and stage history can point at each other before anything is
  written; then each model is written with one `bulk_create` per 2,000 rows, one transaction per
  chunk of 10,000 leads, and the PostgreSQL sequences are moved past the new ids;
- created_at/updated_at are set explicitly (months of history), by switching off auto_now for the
  duration of the run.

Audit: up to PER_RECORD_AUDIT_MAX_LEADS leads, every created account, contact, lead, opportunity and
activity gets its own `create` event (with its fields, like `audit.record`); above that, each chunk
records one summary event per model ("demo data: 10000 leads", with the id range). Stage history rows
belong to their opportunity and get no event of their own. Demo users and teams are created through
the identity services, so they are audited like any other user.
"""
from __future__ import annotations

import datetime as dt
import math
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.management.color import no_style
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from l2c.core import audit
from l2c.customers.models import Account, Contact
from l2c.demo.catalogue import ensure_catalogue, ensure_demo_quotes
from l2c.identity import services as identity_services
from l2c.identity.models import Team, User
from l2c.leads.models import Campaign, Lead
from l2c.pipeline.models import Activity, Opportunity, Stage, StageHistory

from . import pools as P
from .users import DEMO_PASSWORD, DEMO_TEAMS, DEMO_USERS

PER_RECORD_AUDIT_MAX_LEADS = 20_000
CHUNK_LEADS = 10_000
BATCH_SIZE = 2_000

# name, order, default probability, won, lost, expected days in stage
DEFAULT_STAGES = (
    ("Prospecting", 10, 10, False, False, 14),
    ("Qualification", 20, 20, False, False, 21),
    ("Proposal", 30, 50, False, False, 21),
    ("Negotiation", 40, 75, False, False, 14),
    ("Closed Won", 50, 100, True, False, None),
    ("Closed Lost", 60, 0, False, True, None),
)

LEAD_STATUSES = ("new", "working", "nurturing", "qualified", "disqualified", "converted")
LEAD_STATUS_WEIGHTS = (18, 20, 14, 10, 20, 18)
OWNER_WEIGHTS = {"rep": 30, "rep2": 22, "manager": 8, "wei": 16, "olivia": 14, "admin": 2}
CURRENCY_RATE = {"USD": 1, "CNY": 7, "EUR": Decimal("0.92")}
STORED_MODELS = (Account, Contact, Lead, Opportunity, StageHistory, Activity)
AUDITED_MODELS = (Account, Contact, Lead, Opportunity, Activity)


@dataclass
class DemoResult:
    """What one run created."""

    seed: int
    leads: int
    counts: dict[str, int] = field(default_factory=dict)
    audit_mode: str = "per-record"
    seconds: float = 0.0


@contextmanager
def explicit_timestamps(models_) -> Iterator[None]:
    """Let bulk_create keep the created_at/updated_at we set (history going back months)."""
    saved = []
    for model in models_:
        for name in ("created_at", "updated_at"):
            f = model._meta.get_field(name)
            saved.append((f, f.auto_now, f.auto_now_add))
            f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


def ensure_stages() -> list[Stage]:
    """The active stages; the defaults are created (by name, only if missing) when there are none."""
    if not Stage.objects.exists():
        events = []
        for name, order, probability, won, lost, days in DEFAULT_STAGES:
            stage, created = Stage.objects.get_or_create(
                name=name, defaults={"order": order, "probability": probability, "is_won": won, "is_lost": lost,
                                     "expected_days": days})
            if created:
                events.append(_create_event(stage))
        audit.record_many(events)
    return list(Stage.objects.filter(is_active=True).order_by("order", "id"))


def ensure_teams_and_users() -> dict[str, User]:
    teams = {}
    for name, description in DEMO_TEAMS:
        team = Team.objects.filter(name=name).first()
        if team is None:
            team = identity_services.team_create(name=name, description=description, actor=None)
        teams[name] = team
    users = {}
    for spec in DEMO_USERS:
        user = User.objects.filter(username=spec.username).first()
        if user is None:
            user = identity_services.user_create(
                username=spec.username, password=DEMO_PASSWORD, role=spec.role,
                team=teams[spec.team] if spec.team else None, email=f"{spec.username}@demo.l2c.example",
                first_name=spec.first_name, last_name=spec.last_name, language=spec.language,
                actor=None, check_password=False,  # "demo" is deliberately weak: it is the demo
            )
        users[spec.username] = user
    return users


def _campaign_specs(today: dt.date):
    y = today.year
    # name, type, start offset (days), end offset, currency, budget, cost
    return (
        (f"Forecasting Webinar {y}", "webinar", -160, -159, "USD", 8000, 7420),
        ("Google Ads — CRM search", "advertising", -330, 35, "USD", 60000, 48250),
        ("LinkedIn Sponsored Content", "social", -200, -20, "USD", 25000, 26310),
        ("Monthly Customer Newsletter", "email", -365, 365, "USD", 3000, 1850),
        (f"Sales Ops Summit London {y}", "event", -95, -93, "USD", 40000, 38900),
        (f"上海国际零售博览会 {y}", "event", -60, -57, "CNY", 180000, 171500),
        ("微信公众号推广", "social", -240, 60, "CNY", 90000, 63200),
        ("百度搜索推广", "advertising", -300, 30, "CNY", 150000, 131780),
        (f"Hannover Messe {y}", "event", -130, -126, "EUR", 55000, 57400),
        ("Partner Referral Programme", "partner", -365, 365, "USD", 20000, 9600),
        ("Customer Referral Rewards", "referral", -365, 365, "USD", 10000, 4200),
        ("Whitepaper: The Forecasting Playbook", "content", -120, 90, "USD", 6000, 2100),
        (f"Product Launch Webinar {y + 1}", "webinar", 30, 31, "USD", 9000, 0),
    )


def ensure_campaigns(today: dt.date, owner: User) -> list[Campaign]:
    campaigns, events = [], []
    for name, kind, start, end, currency, budget, cost in _campaign_specs(today):
        campaign = Campaign.objects.filter(name=name).first()
        if campaign is None:
            start_date, end_date = today + dt.timedelta(days=start), today + dt.timedelta(days=end)
            status = "completed" if end_date < today else ("planned" if start_date > today else "active")
            campaign = Campaign.objects.create(
                name=name, type=kind, status=status, start_date=start_date, end_date=end_date,
                currency=currency, budget=Decimal(budget), cost=Decimal(cost), owner=owner,
                description="Demo campaign",
            )
            events.append(_create_event(campaign))
        campaigns.append(campaign)
    audit.record_many(events)
    return campaigns


def _create_event(instance) -> audit.PendingEvent:
    after = audit.snapshot(instance)
    return audit.PendingEvent(
        action=audit.Action.CREATE, object_type=audit.object_type_of(instance), object_id=str(instance.pk),
        object_repr=str(instance)[:200],
        changes={k: [None, v] for k, v in after.items() if v not in (None, "", [], {})},
    )


class _Chunk:
    """The rows of one chunk, in the order they are written (parents first)."""

    def __init__(self):
        self.accounts: list[Account] = []
        self.contacts: list[Contact] = []
        self.leads: list[Lead] = []
        self.opportunities: list[Opportunity] = []
        self.history: list[StageHistory] = []
        self.activities: list[Activity] = []

    def by_model(self):
        return ((Account, self.accounts), (Contact, self.contacts), (Lead, self.leads),
                (Opportunity, self.opportunities), (StageHistory, self.history), (Activity, self.activities))


class DemoBuilder:
    def __init__(self, *, seed: int, users: dict[str, User], stages: list[Stage], campaigns: list[Campaign],
                 now: dt.datetime):
        self.seed = seed
        self.rng = random.Random(seed)
        self.pools = P.build_pools(seed)
        self.users = users
        self.now = now
        self.today_end = timezone.localtime(now).replace(hour=23, minute=59, second=0, microsecond=0)
        self.stages = stages
        self.open_stages = [s for s in stages if not s.is_closed]
        self.won_stage = next((s for s in stages if s.is_won), None)
        self.lost_stage = next((s for s in stages if s.is_lost), None)
        self.campaigns = campaigns
        self.owner_names = list(OWNER_WEIGHTS)
        self.owner_weights = list(OWNER_WEIGHTS.values())
        self.country_weights = [c.weight for c in P.COUNTRIES]
        self.source_names = [s for s, _ in P.FREE_SOURCES]
        self.source_weights = [w for _, w in P.FREE_SOURCES]
        self.size_names = [s for s, _ in P.COMPANY_SIZES]
        self.size_weights = [w for _, w in P.COMPANY_SIZES]
        self.next_id = {m: (m.objects.aggregate(m=Max("id"))["m"] or 0) + 1 for m in STORED_MODELS}

    # -- helpers ------------------------------------------------------------------------------
    def _id(self, model) -> int:
        value = self.next_id[model]
        self.next_id[model] = value + 1
        return value

    def _days_ago(self, days: float) -> dt.datetime:
        return self.now - dt.timedelta(days=days, minutes=self.rng.randrange(1, 480))

    def _owner(self) -> User:
        return self.users[self.rng.choices(self.owner_names, self.owner_weights)[0]]

    def _country(self) -> P.Country:
        return self.rng.choices(P.COUNTRIES, self.country_weights)[0]

    def _person(self, country: P.Country) -> dict:
        rng, pools = self.rng, self.pools
        chinese = rng.random() < country.chinese_names
        if chinese:
            last, last_py = rng.choice(P.ZH_SURNAMES)
            first, first_py = rng.choice(P.ZH_GIVEN)
            local = rng.choice((f"{first_py}.{last_py}", f"{last_py}{first_py}", f"{first_py[0]}{last_py}"))
            title = rng.choice(P.TITLES_ZH if country.code == "CN" else P.TITLES_EN)
        else:
            first, last = rng.choice(pools.en_first), rng.choice(pools.en_last)
            local = rng.choice((f"{first}.{last}", f"{first[0]}{last}", first)).lower()
            local = P.slug(local.replace(".", "dot")).replace("dot", ".")
            title = rng.choice(P.TITLES_EN)
        company, domain = rng.choice(pools.zh_companies if country.code == "CN" else pools.en_companies)
        if country.code != "CN" and country.tld != "com":
            domain = domain[: -len("com")] + country.tld
        if rng.random() < 0.12:
            email_domain = rng.choice(country.free_mail)
            local += str(rng.randrange(10, 99))
        else:
            email_domain = domain
        city, region, postal_prefix = rng.choice(country.cities)
        return {
            "first_name": first, "last_name": last, "title": title, "email": f"{local}@{email_domain}",
            "phone": P.phone_number(rng, country.phone), "company": company, "domain": domain,
            "industry": rng.choice(P.INDUSTRIES), "size": rng.choices(self.size_names, self.size_weights)[0],
            "city": city, "region": region, "postal_prefix": postal_prefix, "country": country,
        }

    def _postal_code(self, country: P.Country, prefix: str) -> str:
        rng, code = self.rng, country.code
        letters = "ABDEFGHJLNPQRSTUWXYZ"
        if code == "HK":
            return ""
        if code == "GB":
            return f"{prefix} {rng.randrange(1, 10)}{rng.choice(letters)}{rng.choice(letters)}"
        if code == "CA":
            return f"{prefix}{rng.choice(letters)} {rng.randrange(10)}{rng.choice(letters)}{rng.randrange(10)}"
        if code == "NL":
            return f"{prefix}{rng.randrange(10)} {rng.choice(letters)}{rng.choice(letters)}"
        if code == "JP":
            return f"{prefix}-{rng.randrange(10000):04d}"
        length = {"CN": 6, "IN": 6, "SG": 6, "AU": 4}.get(code, 5)
        return prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix)))

    # -- records ------------------------------------------------------------------------------
    def account(self, chunk: _Chunk, person: dict, owner: User, created_at: dt.datetime) -> Account:
        country = person["country"]
        streets = self.pools.zh_streets if country.code == "CN" else self.pools.en_streets
        account = Account(
            id=self._id(Account), name=person["company"], website=f"https://www.{person['domain']}",
            domain=person["domain"], industry=person["industry"], size=person["size"],
            phone=P.phone_number(self.rng, country.phone), street=self.rng.choice(streets), city=person["city"],
            region=person["region"], postal_code=self._postal_code(country, person["postal_prefix"]),
            country=country.code, owner=owner, created_at=created_at, updated_at=created_at,
            segment="enterprise" if person["size"] in ("1001-5000", "5000+") else "smb",
        )
        chunk.accounts.append(account)
        return account

    def contact(self, chunk: _Chunk, account: Account, person: dict, owner: User,
                created_at: dt.datetime) -> Contact:
        contact = Contact(
            id=self._id(Contact), account=account, first_name=person["first_name"], last_name=person["last_name"],
            title=person["title"], email=person["email"], phone=person["phone"],
            mobile=P.phone_number(self.rng, person["country"].phone), country=person["country"].code,
            owner=owner, created_at=created_at, updated_at=created_at,
        )
        chunk.contacts.append(contact)
        return contact

    def _target_stage(self) -> Stage:
        rng = self.rng
        roll = rng.random()
        if roll < 0.22 and self.won_stage:
            return self.won_stage
        if roll < 0.40 and self.lost_stage:
            return self.lost_stage
        pool = self.open_stages or self.stages
        # earlier stages hold more deals
        return rng.choices(pool, [len(pool) - i + 1 for i in range(len(pool))])[0]

    def _timeline(self, target: Stage) -> tuple[list[Stage], list[dt.datetime]]:
        """The stages an opportunity went through to reach `target`, and when it entered each."""
        rng = self.rng
        open_ = self.open_stages
        if target.is_won:
            path = [*open_, target]
        elif target.is_lost:
            path = [*open_[: rng.randint(1, max(1, len(open_)))], target]
        elif target in open_:
            path = open_[: open_.index(target) + 1]
        else:
            path = [target]
        stays = [rng.randint(3, max(4, (s.expected_days or 21) * 2)) for s in path[:-1]]
        if target.is_closed:
            tail = rng.randint(1, 200)  # days since it closed
        else:
            tail = rng.randint(0, max(1, (target.expected_days or 21) * 2))  # some are stuck
        start = self.now - dt.timedelta(days=sum(stays) + tail, minutes=240 * len(path) + rng.randrange(1, 600))
        entries, at = [start], start
        for days in stays:
            at = at + dt.timedelta(days=days, minutes=rng.randrange(0, 240))
            entries.append(at)
        return path, entries

    def _amount(self, currency: str) -> Decimal:
        usd = math.exp(self.rng.uniform(math.log(3_000), math.log(300_000)))
        step = 1000 if currency == "CNY" else 100
        value = Decimal(int(usd)) * Decimal(CURRENCY_RATE[currency])
        return (value / step).quantize(Decimal(1)) * step

    def opportunity(self, chunk: _Chunk, account: Account, contact: Contact, owner: User,
                    target: Stage | None = None, lead: Lead | None = None, country: P.Country | None = None,
                    campaign: Campaign | None = None, source: str = "") -> Opportunity:
        rng = self.rng
        target = target or self._target_stage()
        path, entries = self._timeline(target)
        currency = (country.currency if country else "USD") if rng.random() < 0.85 else rng.choice(("USD", "EUR"))
        amount = self._amount(currency)
        seats = rng.choice((10, 25, 50, 100, 250))
        template = rng.choice(P.DEAL_NAMES_ZH if account.country == "CN" else P.DEAL_NAMES_EN)
        entered = entries[-1]
        if target.is_won:
            forecast, close_date = "closed", timezone.localtime(entered).date()
        elif target.is_lost:
            forecast, close_date = "omitted", timezone.localtime(entered).date()
        else:
            forecast = "commit" if target.probability >= 75 else ("best_case" if target.probability >= 50 else "pipeline")
            days = rng.randint(-20, -1) if rng.random() < 0.1 else rng.randint(7, 120)  # some are overdue
            close_date = (timezone.localtime(self.now) + dt.timedelta(days=days)).date()
        opportunity = Opportunity(
            id=self._id(Opportunity), name=f"{account.name} — {template.format(n=seats)}"[:200], account=account,
            contact=contact, owner=owner, amount=amount, currency=currency, expected_close_date=close_date,
            stage=target, stage_entered_at=entered, probability=target.probability, forecast_category=forecast,
            next_step="" if target.is_closed else rng.choice(P.NEXT_STEPS),
            budget=f"{currency} {amount:,.0f} earmarked", authority=f"{contact.title or 'Owner'} signs",
            need=rng.choice(("Replace spreadsheets", "One pipeline for two regions", "Faster quote turnaround",
                             "Forecast accuracy", "Chinese and English UI for the sales team")),
            timeline=rng.choice(("This quarter", "Next quarter", "Before the fiscal year end", "Within 6 months")),
            lost_reason=rng.choice(P.LOST_REASONS) if target.is_lost else "",
            competitor=rng.choice(P.COMPETITORS) if (target.is_lost or rng.random() < 0.3) else "",
            lead=lead, source=source, campaign=campaign,
            closed_at=entered if target.is_closed else None,
            created_at=entries[0], updated_at=entered,
        )
        chunk.opportunities.append(opportunity)
        previous = None
        for i, (stage, at) in enumerate(zip(path, entries, strict=True)):
            chunk.history.append(StageHistory(
                id=self._id(StageHistory), opportunity=opportunity, stage=stage, from_stage=previous, entered_at=at,
                left_at=entries[i + 1] if i + 1 < len(entries) else None, moved_by=owner, amount=amount,
                probability=stage.probability,
            ))
            previous = stage
        self._opportunity_activities(chunk, opportunity, entries[0])
        return opportunity

    def activity(self, chunk: _Chunk, *, kind: str, owner: User, due_at=None, done_at=None, created_at,
                 chinese: bool = False, **target) -> Activity:
        subjects = (P.ACTIVITY_SUBJECTS_ZH if chinese else P.ACTIVITY_SUBJECTS)[kind]
        activity = Activity(
            id=self._id(Activity), kind=kind, subject=self.rng.choice(subjects), owner=owner, due_at=due_at,
            done_at=done_at, created_at=created_at, updated_at=done_at or created_at, **target,
        )
        chunk.activities.append(activity)
        return activity

    def _between(self, start: dt.datetime, end: dt.datetime) -> dt.datetime:
        span = max(1, int((end - start).total_seconds()))
        return start + dt.timedelta(seconds=self.rng.randrange(span))

    def _opportunity_activities(self, chunk: _Chunk, opportunity: Opportunity, start: dt.datetime) -> None:
        rng, owner = self.rng, opportunity.owner
        chinese = opportunity.account.country == "CN"
        end = opportunity.closed_at or self.now
        for _ in range(rng.randint(1, 2)):
            at = self._between(start, end)
            self.activity(chunk, kind=rng.choice(("call", "email", "meeting")), owner=owner, due_at=at, done_at=at,
                          created_at=at, chinese=chinese, opportunity=opportunity, account=opportunity.account)
        if opportunity.closed_at is None and rng.random() < 0.6:
            due = self._days_ago(rng.randint(1, 12)) if rng.random() < 0.25 else self.now + dt.timedelta(
                days=rng.randint(1, 21), hours=rng.randint(0, 8))
            self.activity(chunk, kind="task", owner=owner, due_at=due, created_at=min(due, self.now) - dt.timedelta(days=2),
                          chinese=chinese, opportunity=opportunity)

    def lead(self, chunk: _Chunk, status: str, owner: User | None) -> Lead:
        rng = self.rng
        country = self._country()
        person = self._person(country)
        campaign = None
        if rng.random() < 0.5:
            campaign = rng.choice(self.campaigns)
            source = P.CAMPAIGN_SOURCE.get(campaign.type, "other")
        else:
            source = rng.choices(self.source_names, self.source_weights)[0]
        lead = Lead(
            id=self._id(Lead), first_name=person["first_name"], last_name=person["last_name"], title=person["title"],
            email=person["email"], phone=person["phone"], company=person["company"],
            website=f"https://www.{person['domain']}", industry=person["industry"], company_size=person["size"],
            city=person["city"], country=country.code, source=source, campaign=campaign, owner=owner, status=status,
        )
        if source in P.UTM_SOURCES:
            lead.utm_source, lead.utm_medium = rng.choice(P.UTM_SOURCES[source])
            lead.utm_campaign = (P.slug(campaign.name) or f"campaign-{campaign.pk}")[:100] if campaign else ""
            lead.utm_term = rng.choice(P.UTM_TERMS) if source == "advertising" else ""
            lead.utm_content = rng.choice(("banner-a", "banner-b", "cta-footer", "hero-form", ""))
        if status == "converted":
            created = self._convert(chunk, lead, person, country)
        else:
            created = self._days_ago(365 * rng.random() ** 1.6)
            lead.status_changed_at = (None if status == "new"
                                      else self._between(created, min(self.now, created + dt.timedelta(days=30))))
            if status == "disqualified":
                lead.disqualified_reason = rng.choice(P.DISQUALIFIED_REASONS)
        lead.created_at = created
        lead.updated_at = lead.status_changed_at or created
        if source == "web_form":
            lead.consent_basis, lead.consent_text, lead.consent_at = "consent", P.CONSENT_TEXT, created
            lead.consent_source = f"https://www.l2c-demo.example/{'zh/' if country.code == 'CN' else ''}contact"
            lead.consent_ip = f"{rng.randint(11, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randint(1, 254)}"
        elif source in ("event", "referral", "partner", "import"):
            lead.consent_basis = "legitimate_interest"
            lead.consent_source = campaign.name[:200] if campaign else source
        if rng.random() < 0.1:
            lead.description = rng.choice(("Met at our booth; wants a demo for the whole team.",
                                           "Asked about the Chinese user interface.",
                                           "Currently on spreadsheets, 12 sales reps.", "希望下月安排产品演示。"))
        chunk.leads.append(lead)
        if owner is not None and status in ("working", "nurturing", "qualified") and rng.random() < 0.35:
            if rng.random() < 0.5:
                at = self._between(created, self.now)
                self.activity(chunk, kind="call", owner=owner, due_at=at, done_at=at, created_at=at,
                              chinese=country.code == "CN", lead=lead)
            else:
                due = self.now + dt.timedelta(days=rng.randint(-5, 14), hours=rng.randint(1, 8))
                self.activity(chunk, kind="task", owner=owner, due_at=due, created_at=created,
                              chinese=country.code == "CN", lead=lead)
        return lead

    def _convert(self, chunk: _Chunk, lead: Lead, person: dict, country: P.Country) -> dt.datetime:
        """Give a converted lead its account (new, or an existing match), contact and opportunity.

        Returns when the lead was created: some days before the opportunity's first stage.
        """
        rng, owner = self.rng, lead.owner
        same_country = [a for a in chunk.accounts[-50:] if a.country == country.code]
        existing = rng.choice(same_country) if same_country and rng.random() < 0.15 else None
        if existing is not None:
            account = existing  # converted into an existing account
            lead.company = account.name
        else:
            account = self.account(chunk, person, owner, created_at=self.now)
        contact = self.contact(chunk, account, person, owner, created_at=self.now)
        opportunity = self.opportunity(chunk, account, contact, owner, lead=lead, country=country,
                                       campaign=lead.campaign, source=lead.source)
        converted_at = opportunity.created_at
        if existing is None or account.created_at > converted_at:
            account.created_at = account.updated_at = converted_at
        contact.created_at = contact.updated_at = converted_at
        lead.converted_at = lead.status_changed_at = converted_at
        lead.converted_account, lead.converted_contact = account, contact
        lead.converted_opportunity_id = opportunity.id
        return converted_at - dt.timedelta(days=rng.randint(2, 45), minutes=rng.randrange(600))

    def prospect_account(self, chunk: _Chunk, owner: User, stage: Stage | None, with_opportunity: bool) -> None:
        """An account that did not come from a lead: 1–3 contacts, maybe an opportunity."""
        rng = self.rng
        country = self._country()
        person = self._person(country)
        created = self._days_ago(rng.randint(30, 400))
        account = self.account(chunk, person, owner, created)
        contacts = [self.contact(chunk, account, person, owner, created)]
        for _ in range(rng.randint(0, 2)):
            other = self._person(country)
            other.update(company=person["company"], domain=person["domain"])
            other["email"] = other["email"].split("@")[0] + "@" + person["domain"]
            contacts.append(self.contact(chunk, account, other, owner, created))
        if with_opportunity:
            opportunity = self.opportunity(chunk, account, contacts[0], owner, target=stage, country=country,
                                           source=rng.choice(("referral", "partner", "manual", "event")))
            if opportunity.created_at < account.created_at:
                account.created_at = account.updated_at = opportunity.created_at
                for contact in contacts:
                    contact.created_at = contact.updated_at = opportunity.created_at

    def rep_tasks(self, chunk: _Chunk, rep: User) -> None:
        """The rep's home page has tasks due today, overdue and coming up."""
        rng = self.rng
        targets = [o for o in chunk.opportunities if o.owner_id == rep.pk and o.closed_at is None][:9]
        if not targets:
            return
        soon = min(self.now + dt.timedelta(hours=2), self.today_end)
        for i in range(9):
            opportunity = targets[i % len(targets)]
            if i < 3:
                due = max(self.now, soon - dt.timedelta(minutes=20 * i))  # today
            elif i < 6:
                due = self.now - dt.timedelta(days=rng.randint(1, 6), hours=rng.randint(0, 5))  # overdue
            else:
                due = self.now + dt.timedelta(days=rng.randint(1, 10), hours=rng.randint(0, 5))  # coming up
            self.activity(chunk, kind=("task", "call", "meeting")[i % 3], owner=rep, due_at=due,
                          created_at=min(due, self.now) - dt.timedelta(days=3), opportunity=opportunity,
                          chinese=opportunity.account.country == "CN")

    def build_chunk(self, n_leads: int, first: bool) -> _Chunk:
        rng, users = self.rng, self.users
        chunk = _Chunk()
        if first:
            # every stage on the rep's board and on a colleague's, whatever the random draw
            colleagues = [users["rep2"], users["manager"], users["wei"], users["olivia"]]
            for i, stage in enumerate(self.stages):
                self.prospect_account(chunk, users["rep"], stage, True)
                self.prospect_account(chunk, colleagues[i % len(colleagues)], stage, True)
        for i in range(n_leads):
            if first and i < 2 * len(LEAD_STATUSES):  # every status, for rep and rep2
                status = LEAD_STATUSES[i % len(LEAD_STATUSES)]
                owner = users["rep"] if i < len(LEAD_STATUSES) else users["rep2"]
            else:
                status = rng.choices(LEAD_STATUSES, LEAD_STATUS_WEIGHTS)[0]
                # a third of new leads wait unassigned in the managers' queue
                owner = None if status == "new" and rng.random() < 0.35 else self._owner()
            self.lead(chunk, status, owner)
        for _ in range(max(1 if first else 0, round(n_leads * 0.03))):
            self.prospect_account(chunk, self._owner(), None, rng.random() < 0.6)
        if first:
            self.rep_tasks(chunk, users["rep"])
        return chunk


def _write(chunk: _Chunk, *, per_record_audit: bool, seed: int) -> dict[str, int]:
    counts = {}
    events: list[audit.PendingEvent] = []
    for model, rows in chunk.by_model():
        if not rows:
            continue
        model.objects.bulk_create(rows, batch_size=BATCH_SIZE)
        counts[model._meta.label] = len(rows)
        if model not in AUDITED_MODELS:
            continue
        if per_record_audit:
            events.extend(_create_event(row) for row in rows)
        else:
            first, last = rows[0].pk, rows[-1].pk
            events.append(audit.PendingEvent(
                action=audit.Action.CREATE, object_type=audit.object_type_of(model), object_id=f"{first}..{last}",
                object_repr=f"demo data: {len(rows)} {model._meta.verbose_name_plural}",
                changes={"demo_batch": [None, {"count": len(rows), "first_id": first, "last_id": last, "seed": seed}]},
            ))
    audit.record_many(events)
    return counts


def _reset_sequences() -> None:
    statements = connection.ops.sequence_reset_sql(no_style(), list(STORED_MODELS))
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


def generate(*, leads: int = 400, seed: int = 1, chunk_size: int = CHUNK_LEADS,
             per_record_audit_max: int = PER_RECORD_AUDIT_MAX_LEADS, progress=None) -> DemoResult:
    """Create the demo users, teams, stages, campaigns and `leads` leads with everything around them."""
    if leads < 0:
        raise ValueError("leads must be 0 or more")
    started = time.perf_counter()
    result = DemoResult(seed=seed, leads=leads,
                        audit_mode="per-record" if leads <= per_record_audit_max else "per-batch")
    now = timezone.now().replace(microsecond=0)
    with transaction.atomic():
        users = ensure_teams_and_users()
        stages = ensure_stages()
        campaigns = ensure_campaigns(timezone.localdate(now), users["manager"])
        ensure_catalogue()
    if not stages:
        raise ValueError("there are no active pipeline stages")
    builder = DemoBuilder(seed=seed, users=users, stages=stages, campaigns=campaigns, now=now)
    done = 0
    first = True
    with explicit_timestamps([Account, Contact, Lead, Opportunity, Activity]):
        while first or done < leads:
            n = min(chunk_size, leads - done)
            chunk = builder.build_chunk(n, first)
            with transaction.atomic():
                counts = _write(chunk, per_record_audit=result.audit_mode == "per-record", seed=seed)
                _reset_sequences()
            for label, count in counts.items():
                result.counts[label] = result.counts.get(label, 0) + count
            done += n
            first = False
            if progress is not None:
                progress(done, leads)
    if leads:
        ensure_demo_quotes(users)
    result.seconds = time.perf_counter() - started
    return result
