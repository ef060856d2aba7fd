"""Revenue pages (names in the "revenue" namespace); the lead includes this module at the site root."""
from django.urls import path

from . import views

app_name = "revenue"

urlpatterns = [
    path("revenue/", views.overview, name="overview"),
    path("revenue/mrr/", views.mrr_page, name="mrr"),
    path("revenue/export/<slug:report>/", views.report_export, name="report-export"),
    path("revenue/contracts/<int:contract_id>/", views.contract_detail, name="contract"),
    path("revenue/contracts/<int:contract_id>/export/", views.contract_export, name="contract-export"),
    path("revenue/close/", views.period_close, name="close"),
    path("revenue/close/export/", views.close_export, name="close-export"),
]
