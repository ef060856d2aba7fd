"""Engagement tracking for nurture e-mails: signed click links, the open pixel, and recording both.

A click link is `/t/c/<token>/?u=<url>&s=<signature>`: the signature is an HMAC (SECRET_KEY, salted) over
the message token and the URL, so only URLs we put in a message redirect. A bad signature, or a URL that is
not http(s), gets a 400 page and never a redirect: the tracker is not an open redirect.
The pixel `/t/o/<token>.gif` always answers a 1×1 GIF; each load is counted, the first sets `opened_at` and
adds an `email_open` touch to the lead's timeline. Each click is counted and recorded as an `email_click`
touch (the URL in `referrer`); a click also counts as an open when the pixel was blocked.
"""
from __future__ import annotations

import base64
import datetime as dt
import html as html_lib
import re
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from ..models import EmailMessage

SALT = "l2c.nurture.click"
MAX_URL = 2000

# the smallest transparent GIF (43 bytes)
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")

_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def is_web_url(url: str) -> bool:
    """http(s) with a host: the only URLs a click link may lead to."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL or any(ch in url for ch in "\r\n\t\x00"):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc) and bool(parts.hostname)


def signature(token: str, url: str) -> str:
    return salted_hmac(SALT, f"{token}\n{url}", algorithm="sha256").hexdigest()


def verify(token: str, url: str, given: str) -> bool:
    """The signature is ours for this token and URL, and the URL is a web address."""
    return bool(given) and is_web_url(url) and constant_time_compare(signature(token, url), given)


def click_url(token: str, url: str) -> str:
    return f"{settings.L2C_BASE_URL}/t/c/{token}/?u={quote(url, safe='')}&s={signature(token, url)}"


def open_url(token: str) -> str:
    return f"{settings.L2C_BASE_URL}/t/o/{token}.gif"


def _is_unsubscribe(url: str) -> bool:
    return url.startswith(f"{settings.L2C_BASE_URL}/u/")


def rewrite(html: str, token: str) -> str:
    """Every http(s) link becomes a signed click link (the unsubscribe link stays as it is, so it works
    without the tracker), and the open pixel is appended (before </body> when there is one)."""

    def replace(match: re.Match) -> str:
        url = html_lib.unescape(match.group(3)).strip()
        if not is_web_url(url) or _is_unsubscribe(url):
            return match.group(0)
        return f"{match.group(1)}{match.group(2)}{html_lib.escape(click_url(token, url))}{match.group(2)}"

    rewritten = _HREF.sub(replace, html or "")
    pixel = (f'<img src="{html_lib.escape(open_url(token))}" width="1" height="1" alt="" '
             f'style="display:block;border:0;width:1px;height:1px">')
    ends = list(_BODY_END.finditer(rewritten))
    if ends:
        at = ends[-1].start()
        return rewritten[:at] + pixel + rewritten[at:]
    return rewritten + pixel


def _touch(message: EmailMessage, kind: str, now: dt.datetime, *, ip=None, user_agent: str = "",
           referrer: str = "", data: dict | None = None) -> None:
    from l2c.leads.services import touch_record

    if message.lead_id is None:
        return
    touch_record(lead=message.lead, touch={
        "kind": kind, "occurred_at": now, "ip": ip or None, "user_agent": (user_agent or "")[:300],
        "referrer": referrer[:500], "data": {"message": message.token, **(data or {})}})


def _locked(token: str) -> EmailMessage | None:
    return EmailMessage.objects.select_for_update(of=("self",)).select_related("lead").filter(token=token).first()


@transaction.atomic
def record_open(token: str, *, ip: str | None = None, user_agent: str = "",
                now: dt.datetime | None = None) -> EmailMessage | None:
    """Count a load of the pixel; the first sets opened_at and adds the `email_open` touch."""
    now = now or timezone.now()
    message = _locked(token)
    if message is None:
        return None
    first = message.opened_at is None
    EmailMessage.objects.filter(pk=message.pk).update(open_count=F("open_count") + 1,
                                                      **({"opened_at": now} if first else {}))
    if first:
        _touch(message, "email_open", now, ip=ip, user_agent=user_agent, data={"subject": message.subject})
    message.refresh_from_db(fields=["open_count", "opened_at"])
    return message


@transaction.atomic
def record_click(token: str, url: str, *, ip: str | None = None, user_agent: str = "",
                 now: dt.datetime | None = None) -> EmailMessage | None:
    """Count a click (the caller has verified the signature): clicked_at on the first, an `email_click` touch
    with the URL each time. A click proves the message was opened, so opened_at is set when still empty
    (many mail clients block images)."""
    now = now or timezone.now()
    message = _locked(token)
    if message is None:
        return None
    changes: dict = {"click_count": F("click_count") + 1}
    if message.clicked_at is None:
        changes["clicked_at"] = now
    if message.opened_at is None:
        changes["opened_at"] = now
    EmailMessage.objects.filter(pk=message.pk).update(**changes)
    _touch(message, "email_click", now, ip=ip, user_agent=user_agent, referrer=url, data={"url": url[:MAX_URL]})
    message.refresh_from_db(fields=["click_count", "clicked_at", "opened_at"])
    return message
