from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "l2c.customers"
    label = "customers"
    verbose_name = _("Customers")

    def ready(self):
        from l2c.core.events import register_event

        register_event("account.created", "An account (company) was created. Payload: account_id, actor_id.")
        register_event("contact.created", "A contact was created. Payload: contact_id, account_id, actor_id.")
