from django.contrib import admin
from django.urls import include, path

from l2c.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("l2c.identity.urls")),
    path("", include("l2c.analytics.urls")),
    path("", include("l2c.customers.urls")),
    path("", include("l2c.leads.urls")),
    path("", include("l2c.pipeline.urls")),
    path("", include("l2c.quoting.urls")),
    path("", include("l2c.contracts.urls")),
    path("", include("l2c.orders.urls")),
    path("", include("l2c.ledger.urls")),
    path("", include("l2c.billing.urls")),
    path("", include("l2c.banking.urls")),
    path("", include("l2c.receivables.urls")),
    path("", include("l2c.revenue.urls")),
    path("", include("l2c.automation.urls")),
    path("", include("l2c.nurture.urls")),
    path("portal/", include("l2c.portal.urls")),
    path("", include("l2c.core.urls")),
]
