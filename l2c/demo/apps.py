from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo data generator. It writes every stage's records, so it sits after them all."""

    name = "l2c.demo"
    label = "demo"
    verbose_name = "Demo data"
