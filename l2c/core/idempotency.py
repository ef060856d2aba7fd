"""Idempotency-Key for creating POSTs under /api/.

A POST carrying `Idempotency-Key` runs in one transaction together with the record of its
response. A replay (same user, same key, same method, path and body) returns the first response
and creates nothing; the same key with another request is a 409. Two concurrent requests with
one key: the second's insert of the key hits the unique constraint, its work is rolled back and
the first response is returned. 5xx responses are not kept (their writes are rolled back), so a
retry after a crash runs again; nor are refusals before the work started (401, 403, 429).
"""
from __future__ import annotations

import hashlib

from django.db import IntegrityError, transaction
from django.http import HttpResponse

from .models import IdempotencyRecord
from .problems import problem_response

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
# The request was not carried out (not authenticated, CSRF refused, throttled): a retry with the
# same key after fixing that must run, not replay the refusal.
NOT_KEPT = {401, 403, 429}


def _request_hash(request) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\0")
    digest.update(request.get_full_path().encode())
    digest.update(b"\0")
    if request.content_type == "multipart/form-data":
        _hash_multipart(request, digest)
    else:
        digest.update(request.body or b"")
    return digest.hexdigest()


def _hash_multipart(request, digest) -> None:
    """A multipart body is hashed by its parsed fields and files, not its bytes: every client picks a new
    random boundary per request, so a faithful retry never has the same bytes. Files are read in chunks
    (they may be far larger than memory allows) and rewound for the view."""
    for name in sorted(request.POST):
        for value in request.POST.getlist(name):
            digest.update(b"f\0" + name.encode() + b"\0" + value.encode("utf-8", "surrogatepass") + b"\0")
    for name in sorted(request.FILES):
        for upload in request.FILES.getlist(name):
            digest.update(b"F\0" + name.encode() + b"\0" + (upload.name or "").encode("utf-8", "surrogatepass") + b"\0")
            for chunk in upload.chunks():
                digest.update(chunk)
            upload.seek(0)
            digest.update(b"\0")


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(record.response_body, status=record.status_code, content_type=record.content_type)
    response["Idempotent-Replayed"] = "true"
    return response


class IdempotencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = request.headers.get(HEADER)
        if request.method != "POST" or key is None or not request.path.startswith("/api/"):
            return self.get_response(request)
        from l2c.identity.tokens import user_from_request  # identity sits above core

        user = user_from_request(request)
        if user is None:  # let the API answer 401 as usual
            return self.get_response(request)
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            return problem_response(
                400, "Invalid Idempotency-Key",
                f"The {HEADER} header must be 1 to {MAX_KEY_LENGTH} characters.",
                code="invalid_idempotency_key", errors=[{"field": HEADER, "message": "1 to 255 characters", "code": "invalid"}],
            )
        request_hash = _request_hash(request)
        existing = IdempotencyRecord.objects.filter(user=user, key=key).first()
        if existing is not None:
            return self._answer_existing(existing, request_hash)
        try:
            with transaction.atomic():
                response = self.get_response(request)
                if response.status_code >= 500:
                    # not kept, and whatever the failed request wrote is undone, so a retry runs afresh
                    transaction.set_rollback(True)
                    return response
                if response.status_code in NOT_KEPT or getattr(response, "streaming", False):
                    return response
                IdempotencyRecord.objects.create(
                    user=user, key=key, method=request.method, path=request.path[:500],
                    request_hash=request_hash, status_code=response.status_code,
                    response_body=response.content.decode("utf-8", errors="replace"),
                    content_type=response.get("Content-Type", "application/json"),
                )
                return response
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(user=user, key=key).first()
            if existing is None:
                raise
            return self._answer_existing(existing, request_hash)

    @staticmethod
    def _answer_existing(record: IdempotencyRecord, request_hash: str) -> HttpResponse:
        if record.request_hash != request_hash:
            return problem_response(
                409, "Idempotency-Key reused",
                f"The {HEADER} {record.key!r} was already used for a different request "
                f"({record.method} {record.path}); use a new key for a new request.",
                code="idempotency_key_reused",
            )
        return _replay(record)
