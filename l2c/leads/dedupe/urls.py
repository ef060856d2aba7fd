from django.urls import path

from . import views

# included at the site root inside the "leads" namespace
urlpatterns = [
    path("leads/duplicates/", views.duplicate_list, name="duplicate-list"),
    path("leads/duplicates/scan/", views.duplicate_scan, name="duplicate-scan"),
    path("contacts/duplicates/", views.duplicate_list, {"kind": "contact"}, name="contact-duplicate-list"),
    path("leads/merge/", views.lead_merge, name="merge"),
    path("contacts/merge/", views.contact_merge, name="contact-merge"),
    path("leads/merges/", views.merge_list, name="merge-list"),
    path("leads/merges/<int:pk>/", views.merge_detail, name="merge-detail"),
    path("leads/merges/<int:pk>/undo/", views.merge_undo, name="merge-undo"),
]
