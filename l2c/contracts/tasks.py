"""Contract jobs (scheduled in l2c/celery.py BEAT_SCHEDULE): thin, safe to run twice."""
import logging

from celery import shared_task

from . import services

log = logging.getLogger(__name__)


@shared_task(name="l2c.contracts.tasks.contracts_daily")
def contracts_daily() -> str:
    """Expire contracts whose end date has passed, then start the renewal of auto-renew contracts that
    entered their notice window (once per contract)."""
    expired = services.expire_ended_contracts()
    renewals = services.start_due_renewals()
    log.info("contracts: %d expired, %d renewals started", expired, renewals)
    return f"expired {expired}, renewals {renewals}"


@shared_task(name="l2c.contracts.tasks.send_signed_copy")
def send_signed_copy(signature_id: int) -> bool:
    """E-mail the signer their signed copy again (e.g. retried by an operator)."""
    return services.send_signed_copy(signature_id=signature_id)
