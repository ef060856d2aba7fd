"""Background work of lead imports: run a queued import job."""
from __future__ import annotations

from celery import shared_task


@shared_task(name="l2c.leads.imports.run_import_job", acks_late=True)
def run_import_job(job_id: int) -> str:
    """Run the import job `job_id`. Safe to deliver twice: a job that is not waiting to run is ignored."""
    from .services import import_job_run

    job = import_job_run(job_id=int(job_id))
    return job.status if job is not None else "ignored"
