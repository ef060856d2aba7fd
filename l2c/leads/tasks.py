"""Celery discovers `<app>.tasks`; the capture sub-packages keep their tasks beside their code."""
from .dedupe import tasks as dedupe_tasks  # noqa: F401
from .imports import tasks as import_tasks  # noqa: F401
