from django.urls import path

from . import views

app_name = "ledger"

urlpatterns = [
    path("ledger/", views.home, name="home"),
    path("ledger/accounts/", views.account_list, name="accounts"),
    path("ledger/accounts/<int:pk>/edit/", views.account_edit, name="account-edit"),
    path("ledger/entries/", views.entry_list, name="entries"),
    path("ledger/entries/export/", views.entry_export, name="entry-export"),
    path("ledger/entries/new/", views.entry_create, name="entry-create"),
    path("ledger/entries/<int:pk>/", views.entry_detail, name="entry-detail"),
    path("ledger/entries/<int:pk>/reverse/", views.entry_reverse, name="entry-reverse"),
    path("ledger/periods/", views.period_list, name="periods"),
    path("ledger/rates/", views.rate_list, name="rates"),
    path("ledger/reports/trial-balance/", views.trial_balance, name="trial-balance"),
    path("ledger/reports/general-ledger/", views.general_ledger, name="general-ledger"),
    path("ledger/reports/ar-subledger/", views.ar_subledger, name="ar-subledger"),
]
