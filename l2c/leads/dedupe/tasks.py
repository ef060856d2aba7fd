"""Background duplicate scans: on demand ("Scan now") and nightly (l2c/celery.py BEAT_SCHEDULE)."""
from celery import shared_task


@shared_task(name="l2c.leads.dedupe.tasks.find_duplicates")
def find_duplicates(scan_id: int | None = None) -> str:
    """Compare every lead and contact and replace the stored duplicate groups. Without `scan_id` (the
    nightly run) a new scan is recorded; a scan already finished is not run again."""
    from .services import duplicate_scan_run

    scan = duplicate_scan_run(scan_id=scan_id)
    return f"scan {scan.pk}: {scan.status}, {scan.groups_found} groups"
