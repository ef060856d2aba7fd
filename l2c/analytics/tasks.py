"""Analytics background jobs (scheduled in l2c/celery.py BEAT_SCHEDULE)."""
from celery import shared_task


@shared_task(name="l2c.analytics.tasks.take_weekly_forecast_snapshot")
def take_weekly_forecast_snapshot() -> int:
    """The Monday snapshot of the forecast; running it again in the same week keeps the first one."""
    from .forecast import snapshot_take
    from .models import ForecastSnapshot

    return snapshot_take(actor=None, kind=ForecastSnapshot.Kind.SCHEDULED).pk
