from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "l2c.core"
    label = "core"
    verbose_name = "Core"

    def ready(self):
        from . import signals  # noqa: F401  (PostgreSQL append-only triggers after migrate)
