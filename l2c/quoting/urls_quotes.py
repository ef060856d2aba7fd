"""Quote pages (names in the "quoting" namespace). The PDF and send pages of a quote are in D's urls."""
from django.urls import path

from . import views_quotes as views

urlpatterns = [
    path("quotes/", views.quote_list, name="quote-list"),
    path("opportunities/<int:opportunity_id>/quotes/new/", views.quote_create, name="quote-create"),
    path("quotes/<int:pk>/", views.quote_detail, name="quote-detail"),
    path("quotes/<int:pk>/totals/", views.quote_totals, name="quote-totals"),
    path("quotes/<int:pk>/lines/", views.line_add, name="quote-line-add"),
    path("quotes/<int:pk>/lines/<int:line_id>/", views.line_update, name="quote-line-update"),
    path("quotes/<int:pk>/lines/<int:line_id>/delete/", views.line_delete, name="quote-line-delete"),
    path("quotes/<int:pk>/lines/<int:line_id>/move/", views.line_move, name="quote-line-move"),
    path("quotes/<int:pk>/submit/", views.quote_submit, name="quote-submit"),
    path("quotes/<int:pk>/approve/", views.quote_approve, name="quote-approve"),
    path("quotes/<int:pk>/reject/", views.quote_reject, name="quote-reject"),
    path("quotes/<int:pk>/primary/", views.quote_make_primary, name="quote-primary"),
    path("quotes/<int:pk>/new-version/", views.quote_new_version, name="quote-new-version"),
    path("approvals/", views.approval_inbox, name="approval-inbox"),
    path("settings/approval-rules/", views.approval_rule_list, name="approval-rule-list"),
    path("settings/approval-rules/new/", views.approval_rule_edit, name="approval-rule-create"),
    path("settings/approval-rules/<int:pk>/", views.approval_rule_edit, name="approval-rule-edit"),
    path("settings/approval-rules/<int:pk>/deactivate/", views.approval_rule_deactivate,
         name="approval-rule-deactivate"),
]
