"""Core background jobs (scheduled in l2c/celery.py BEAT_SCHEDULE)."""
import logging

from celery import shared_task

from . import audit

log = logging.getLogger(__name__)


@shared_task(name="l2c.core.tasks.verify_audit_chain")
def verify_audit_chain() -> str:
    count, problem = audit.verify_chain()
    if problem:
        log.error("audit chain broken at %s", problem)
        return f"broken: {problem}"
    log.info("audit chain intact (%d events)", count)
    return f"ok: {count} events"


@shared_task(name="l2c.core.tasks.seal_audit_chain")
def seal_audit_chain() -> str:
    """Seal audit events that their own commit left unsealed (a process died between commit and seal).

    Normally there are none: every audited commit seals right after. Safe to run any time, any number
    of times."""
    stale = audit.stale_problem(sealed_now=True)
    sealed = audit.seal_pending(wait=True)
    if stale is not None:
        log.error("audit: %s", stale)
    elif sealed:
        log.info("audit: sealed %d leftover events", sealed)
    return f"sealed {sealed}"
