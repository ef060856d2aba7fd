from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "l2c.identity"
    label = "identity"
    verbose_name = "Identity"
