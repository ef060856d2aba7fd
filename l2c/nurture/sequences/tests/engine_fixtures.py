"""Fixtures of the sequence engine's tests: a real SMTP server (aiosmtpd on 127.0.0.1, a free port) that
stores what it receives and refuses the recipients it is told to, and a small factory of sequences,
steps and enrolments made with the ORM.

`smtp_sink.refuse[address] = ["450 4.2.0 Try later"]` answers RCPT TO for that address with each reply in
turn (then accepts); a plain string refuses for good.
"""
from __future__ import annotations

import datetime as dt
import socket
from email import policy
from email.parser import BytesParser

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

HTML = ('<p>Hello {{ lead.first_name|default:"there" }} from {{ lead.company }},</p>'
        '<p>See <a href="https://example.com/offer?a=1&amp;b=2">our offer</a> or '
        '<a href="mailto:sales@example.com">write to us</a>.</p>'
        '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>')


class Sink:
    def __init__(self):
        self.messages: list = []  # email.message.EmailMessage, with .envelope_to and .peer set
        self.refuse: dict[str, str | list[str]] = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd hook
        answer = self.refuse.get(address.lower())
        if isinstance(answer, list):
            answer = answer.pop(0) if answer else None
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook
        parsed = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
        parsed.envelope_to = list(envelope.rcpt_tos)
        parsed.peer = session.peer
        self.messages.append(parsed)
        return "250 2.0.0 Accepted"

    def to(self, address: str) -> list:
        return [m for m in self.messages if address in m.envelope_to]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_sink(settings):
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10
    settings.DEFAULT_FROM_EMAIL = "L2C <news@mail.example.com>"
    yield sink
    controller.stop()


@pytest.fixture
def email_template(manager):
    from l2c.nurture import services

    def make(name="Welcome", html=HTML, subject="Hi {{ lead.first_name }}", text=""):
        return services.template_create(actor=manager, name=name, versions=[
            {"language": "en", "subject": subject, "html": html, "text": text},
            {"language": "zh-hans", "subject": "{{ lead.last_name }}{{ lead.first_name }}，您好",
             "html": "<p>您好 {{ lead.first_name }}</p>", "text": ""}])

    return make


@pytest.fixture
def lead_for(rep):
    """A lead that may be e-mailed (consent recorded), owned by `rep`."""
    from l2c.leads.models import Lead

    counter = iter(range(1, 100_000))

    def make(**fields):
        n = next(counter)
        values = {"first_name": "Jane", "last_name": f"Doe{n}", "email": f"jane{n}@example.com", "owner": rep,
                  "company": "Acme", "consent_basis": "consent", "consent_at": timezone.now(),
                  "consent_source": "web form", **fields}
        return Lead.objects.create(**values)

    return make


@pytest.fixture
def sequence_with(db):
    """sequence_with([{"kind": "email", "template": t}, {"kind": "wait", "wait_days": 2}, …], **fields)."""
    from l2c.nurture.models import Sequence, SequenceStep

    counter = iter(range(1, 100_000))

    def make(steps, **fields):
        values = {"name": f"Sequence {next(counter)}", "status": "active", **fields}
        sequence = Sequence.objects.create(**values)
        for position, step in enumerate(steps, start=1):
            SequenceStep.objects.create(sequence=sequence, position=position, **step)
        return sequence

    return make


@pytest.fixture
def enroll(db):
    from l2c.nurture.models import Enrollment

    def make(sequence, lead, *, at: dt.datetime | None = None, **fields):
        return Enrollment.objects.create(sequence=sequence, lead=lead, next_run_at=at or timezone.now(), **fields)

    return make
