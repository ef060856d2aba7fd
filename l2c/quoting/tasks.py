"""Quote background jobs (scheduled in l2c/celery.py BEAT_SCHEDULE)."""
from celery import shared_task


@shared_task(name="l2c.quoting.tasks.expire_quotes")
def expire_quotes() -> int:
    """Sent and approved quotes past their validity date become EXPIRED (their portal links stop working)."""
    from l2c.quoting.services.quotes import expire_due_quotes

    return expire_due_quotes()
