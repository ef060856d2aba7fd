from django.urls import path

from . import thread, views

app_name = "billing"

urlpatterns = [
    path("accounts/<int:account_id>/thread/", thread.account_thread_panel, name="account-thread"),
    path("billing/", views.billing_home, name="home"),
    path("billing/contracts/<int:contract_pk>/invoice/", views.contract_invoice, name="contract-invoice"),
    path("invoices/", views.invoice_list, name="invoice-list"),
    path("invoices/<int:pk>/", views.invoice_detail, name="invoice-detail"),
    path("invoices/<int:pk>/post/", views.invoice_post, name="invoice-post"),
    path("invoices/<int:pk>/credit/", views.invoice_credit, name="invoice-credit"),
    path("invoices/<int:pk>/write-off/", views.invoice_write_off, name="invoice-write-off"),
    path("credit-notes/<int:pk>/post/", views.credit_note_post, name="credit-note-post"),
    path("payments/", views.payment_list, name="payment-list"),
    path("reports/ar-aging/", views.ar_aging_report, name="ar-aging"),
]

from .views_reversals import urlpatterns as reversal_urlpatterns  # noqa: E402

urlpatterns += reversal_urlpatterns
