from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "l2c.analytics"
    label = "analytics"
    verbose_name = _("Analytics")

    def ready(self):
        from .leadflow import connect_signals

        connect_signals()
