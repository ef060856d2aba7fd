"""Nurture's Celery tasks: thin, safe to run twice (each re-computes from the data as it is)."""
from celery import shared_task


@shared_task
def rescore_all_leads() -> int:
    """Score every lead (after a rule change, after training, and nightly)."""
    from .scoring.services import rescore_all

    return rescore_all()


@shared_task
def train_scoring_model_and_rescore() -> int:
    """Nightly: train on the outcomes so far (or record that there are too few), then re-score every lead."""
    from .scoring.model import train
    from .scoring.services import rescore_all

    train(actor=None)
    return rescore_all()


@shared_task
def rescore_lead(lead_id: int) -> None:
    """Score one lead (after it was created or changed status): on the worker, not in the capture request."""
    from .scoring.services import rescore_lead as score

    score(lead_id)
