"""Sending one sequence step to N recipients through a local SMTP sink (issue 7).

    .venv/bin/python bench/send_bench.py --db postgresql --n 10000
    .venv/bin/python bench/send_bench.py --db sqlite --n 2000 --no-record

The database starts empty and freshly migrated (an SQLite file in a scratch folder, or the PostgreSQL database
`l2c_send_bench`). N leads with consent (four in five English, one in five Chinese, half of them owned by a
rep), an e-mail template in both languages with merge fields and three links, and an active sequence whose
first step sends it. An SMTP sink (bench/smtp_sink.py, aiosmtpd) runs as its own process on a free port.
Timed:

  enrol             the sequence service enrols the N leads (checks: visibility, address, suppression,
                    lawful basis), as the API's enroll action does
  render            `runner.advance_due()`: each enrolment's step creates its message once (merge fields in
                    the lead's language, links signed for click tracking, the open pixel)
  send              `sending.send_due()`: every message claimed (throttle window, suppression re-checked),
                    sent over one SMTP connection, recorded as sent with its touch
  reference: SMTP   the same N messages (their bytes, already built) written with smtplib over one
                    connection to the same sink: the floor of SMTP itself on this machine

The sink's count must equal N (every message arrived exactly once). Prints the figures and appends a JSON line
to bench/results.jsonl (not with --no-record).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from django_db import fresh_database, setup  # noqa: E402

PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/l2c_send_bench")
HTML_EN = ("<p>Hello {{ lead.first_name|default:\"there\" }},</p><p>{{ lead.company }} could close the month in "
           "a day. <a href=\"https://example.com/guide\">Read the guide</a>, see "
           "<a href=\"https://example.com/pricing?plan=pro\">pricing</a> or "
           "<a href=\"https://example.com/demo\">book a demo</a>.</p><p>{{ owner.name|default:\"The team\" }}<br><a href=\"{{ unsubscribe_url }}\">Unsubscribe</a></p>")
HTML_ZH = ("<p>{{ lead.last_name }}{{ lead.first_name }}，您好：</p><p>{{ lead.company }} 可以一天完成月结。"
           "<a href=\"https://example.com/zh/guide\">阅读指南</a>、<a href=\"https://example.com/zh/pricing\">价格</a>、"
           "<a href=\"https://example.com/zh/demo\">预约演示</a>。</p>")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sink(port: int) -> subprocess.Popen:
    sink = subprocess.Popen([sys.executable, str(ROOT / "bench" / "smtp_sink.py"), "--port", str(port)],
                            stdout=subprocess.PIPE, text=True)
    assert sink.stdout.readline().strip() == "ready"
    return sink


def stop_sink(sink: subprocess.Popen) -> dict:
    sink.terminate()
    out, _err = sink.communicate(timeout=30)
    return json.loads(out.strip().splitlines()[-1])


def build(n: int):
    """N leads with consent, a rep, the template and the active one-step sequence; not timed."""
    from django.contrib.auth import get_user_model

    from l2c.core.bulk import insert_rows
    from l2c.leads.models import Lead
    from l2c.nurture import services as nurture
    from l2c.nurture.models import Sequence, SequenceStep

    User = get_user_model()
    admin = User.objects.create_user(username="bench-admin", email="admin@example.test", password="x",
                                     first_name="Ada", role="admin")
    rep = User.objects.create_user(username="bench-rep", email="rep@example.test", password="x",
                                   first_name="Grace", role="rep")
    now = dt.datetime.now(dt.UTC)
    fields = [f for f in Lead._meta.concrete_fields if not f.primary_key]
    defaults = {f.attname: (now if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
                            else f.get_default()) for f in fields}
    rows = []
    for i in range(n):
        chinese = i % 5 == 4
        values = {**defaults, "first_name": "明" if chinese else f"Pat{i}", "last_name": "王" if chinese else "Lee",
                  "email": f"lead{i}@recipient{i % 50}.example.test", "company": "示例科技" if chinese else f"Co {i}",
                  "country": "CN" if chinese else "US", "language": "zh-hans" if chinese else "en",
                  "consent_basis": "consent", "consent_at": now, "consent_source": "bench",
                  "owner_id": rep.pk if i % 2 else None, "status": "new"}
        rows.append([values[f.attname] for f in fields])
    insert_rows(Lead, [f.attname for f in fields], rows)
    template = nurture.template_create(actor=admin, name="Month-end guide", versions=[
        {"language": "en", "subject": "{{ lead.company }}: close the month in a day", "html": HTML_EN},
        {"language": "zh-hans", "subject": "{{ lead.company }}：一天完成月结", "html": HTML_ZH}])
    sequence = Sequence.objects.create(name="Bench sequence", status="active", created_by=admin,
                                       from_email="news@sender.example.test", from_name="L2C bench")
    SequenceStep.objects.create(sequence=sequence, position=1, kind="email", template=template)
    return admin, sequence


def enrol(admin, sequence) -> int:
    from l2c.leads.models import Lead
    from l2c.nurture.sequences import services

    ids = list(Lead.objects.order_by("id").values_list("id", flat=True))
    result = services.enroll(sequence=sequence, leads=ids, actor=admin, source="api")
    return result["enrolled"] if isinstance(result, dict) else len(ids)


def reference_smtp(port: int, n: int) -> float:
    """The same number of messages, built beforehand from the stored ones, written with smtplib."""
    import smtplib

    from l2c.nurture.models import EmailMessage
    from l2c.nurture.sequences.sending import build as build_message

    payloads = []
    for message in EmailMessage.objects.order_by("id")[:n]:
        email = build_message(message)
        payloads.append((email.from_email, email.recipients(), email.message().as_bytes(linesep="\r\n")))
    t0 = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for sender, recipients, body in payloads:
            smtp.sendmail(sender, recipients, body)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/results.jsonl")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the render and send sweeps into FILE")
    args = parser.parse_args()
    port = free_port()
    os.environ.update({"EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", "EMAIL_HOST": "127.0.0.1",
                       "EMAIL_PORT": str(port), "L2C_EMAIL_RATE_PER_MINUTE": str(10 * args.n)})
    setup(fresh_database(args.db, PG_URL, "l2c-send-bench-"))
    from django.conf import settings

    from l2c.nurture.choices import MessageStatus
    from l2c.nurture.models import EmailMessage
    from l2c.nurture.sequences import runner, sending
    from l2c.nurture.sequences import services as sequence_services

    sequence_services.queue_advance = lambda: None  # the bench drives the sweeps itself: no worker, no queue
    settings.L2C_EMAIL_RATE_PER_MINUTE = 10 * args.n  # the throttle is measured, not hit
    admin, sequence = build(args.n)
    sink = start_sink(port)
    try:
        t0 = time.perf_counter()
        enrolled = enrol(admin, sequence)
        t_enrol = time.perf_counter() - t0
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        t0 = time.perf_counter()
        advanced = runner.advance_due(limit=args.n + 1, send=False)
        t_render = time.perf_counter() - t0
        t0 = time.perf_counter()
        attempted = sending.send_due(limit=args.n + 1)
        t_send = time.perf_counter() - t0
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        sent = EmailMessage.objects.filter(status=MessageStatus.SENT).count()
        received = stop_sink(sink)
        sink = start_sink(port)
        t_reference = reference_smtp(port, args.n)
        reference_received = stop_sink(sink)
        sink = None
    finally:
        if sink is not None:
            stop_sink(sink)
    load = os.getloadavg()
    result = {
        "bench": "send", "db": args.db, "n": args.n, "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(), "load": [round(x, 2) for x in load],
        "enrolled": enrolled, "advanced": advanced, "attempted": attempted, "sent": sent,
        "sink_received": received["messages"], "sink_bytes": received["bytes"],
        "enrol_s": round(t_enrol, 2), "enrol_per_s": round(enrolled / t_enrol),
        "render_s": round(t_render, 2), "render_per_s": round(advanced / t_render),
        "send_s": round(t_send, 2), "send_per_s": round(sent / t_send),
        "reference_smtp_s": round(t_reference, 2), "reference_smtp_per_s": round(args.n / t_reference),
        "reference_received": reference_received["messages"],
    }
    print(json.dumps(result, indent=2))
    if received["messages"] != args.n or sent != args.n:
        print(f"MISMATCH: {sent} sent, {received['messages']} received, {args.n} expected", file=sys.stderr)
        sys.exit(1)
    if not args.no_record:
        with open(ROOT / "bench" / "results.jsonl", "a") as out:
            out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
