from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "l2c.leads"
    label = "leads"
    verbose_name = "Leads"
