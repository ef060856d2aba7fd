"""Quote documents (names in the "quoting" namespace): PDF, sending, portal links, template editor, company."""
from django.urls import path

from . import views_documents as views

urlpatterns = [
    path("quotes/<int:pk>/pdf", views.quote_pdf, name="quote-pdf"),
    path("quotes/<int:pk>/send/", views.quote_send, name="quote-send"),
    path("quotes/<int:pk>/links/<int:link_id>/revoke/", views.link_revoke, name="quote-link-revoke"),
    path("settings/templates/", views.template_list, name="template-list"),
    path("settings/templates/<str:kind>/", views.template_edit, name="template-edit"),
    path("settings/company/", views.company_edit, name="company-edit"),
]
