from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "l2c.analytics"
    label = "analytics"
    verbose_name = "Analytics"
