"""Analytics background jobs (scheduled in l2c/celery.py BEAT_SCHEDULE)."""
from celery import shared_task


@shared_task(name="l2c.analytics.tasks.take_weekly_forecast_snapshot")
def take_weekly_forecast_snapshot() -> int:
    """The Monday snapshot of the forecast; running it again in the same week keeps the first one."""
    from .forecast import snapshot_take
    from .models import ForecastSnapshot

    return snapshot_take(actor=None, kind=ForecastSnapshot.Kind.SCHEDULED).pk


@shared_task(name="l2c.analytics.tasks.refresh_lead_flow")
def refresh_lead_flow() -> int:
    """Every minute: recompute the lead flow rows marked stale and summarise new leads (see leadflow)."""
    from .leadflow import ensure_current

    return ensure_current()


@shared_task(name="l2c.analytics.tasks.rebuild_lead_flow")
def rebuild_lead_flow() -> int:
    """Nightly: recompute every lead flow row (the safety net for changes made outside the application)."""
    from .leadflow import rebuild_all

    return rebuild_all()
