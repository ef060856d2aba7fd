from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "l2c.customers"
    label = "customers"
    verbose_name = "Customers"
