from django.urls import path

from . import views

app_name = "receivables"

urlpatterns = [
    path("invoices/<int:pk>/pdf", views.invoice_pdf, name="invoice-pdf"),
    path("invoices/<int:pk>/send/", views.invoice_send, name="invoice-send"),
    path("invoices/<int:pk>/collection/", views.invoice_collection, name="invoice-collection"),
    path("receivables/dunning/", views.dunning_home, name="dunning"),
    path("receivables/dunning/run/", views.dunning_run, name="dunning-run"),
    path("receivables/dunning/levels/<int:pk>/", views.dunning_level_edit, name="dunning-level"),
    path("receivables/customers/<int:account_pk>/statement/", views.statement_page, name="statement"),
    path("receivables/customers/<int:account_pk>/statement.pdf", views.statement_pdf, name="statement-pdf"),
    path("receivables/customers/<int:account_pk>/portal-links/", views.portal_link_create, name="portal-link-create"),
    path("receivables/customers/<int:account_pk>/portal-links/<int:link_pk>/revoke/", views.portal_link_revoke,
         name="portal-link-revoke"),
    # the customer portal: l2c/portal/urls.py claims only /portal/q/...
    path("portal/c/<str:token>/", views.portal_home, name="portal"),
    path("portal/c/<str:token>/invoices/<int:pk>.pdf", views.portal_invoice_pdf, name="portal-invoice-pdf"),
    path("portal/c/<str:token>/statement.pdf", views.portal_statement_pdf, name="portal-statement-pdf"),
]
