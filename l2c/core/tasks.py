"""Core background jobs."""
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
