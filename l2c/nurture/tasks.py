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


@shared_task(name="l2c.nurture.tasks.advance_sequences")
def advance_sequences() -> str:
    """Every minute: run the sequence steps that are due (e-mails are queued, waits set, tasks requested). When
    it created messages it queues one `send_due_emails` sweep, not a task per message."""
    from .sequences.runner import advance_due

    return f"{advance_due()} enrolments advanced"


@shared_task(name="l2c.nurture.tasks.send_email")
def send_email(message_id: int) -> str:
    """Attempt one queued e-mail now (nothing when it is not due, already claimed or already sent)."""
    from .sequences.sending import send_message

    message = send_message(message_id)
    return f"{message_id}: {message.status if message else 'nothing to send'}"


@shared_task(name="l2c.nurture.tasks.send_due_emails")
def send_due_emails() -> str:
    """Every minute, and right after a runner sweep created messages: send the e-mails that are due (new ones,
    retries, throttled ones, lost task messages) in claimed batches over one SMTP connection, and mark the ones
    whose worker died mid-attempt as unknown. Two sweeps at once (two workers) share the work: each claims
    other rows."""
    from .sequences.sending import send_due

    return f"{send_due()} e-mails attempted"


@shared_task
def publish_score_changes(changes: list) -> int:
    """Publish `lead.score_changed` for [[lead id, previous score, new score], …] (queued by a re-score)."""
    from .scoring.services import publish_score_changes as publish

    return publish(changes)
