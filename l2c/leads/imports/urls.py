"""Import pages (inside the "leads" URL namespace)."""
from django.urls import path

from . import views

urlpatterns = [
    path("leads/imports/", views.import_list, name="import-list"),
    path("leads/imports/new/", views.import_create, name="import-create"),
    path("leads/imports/<int:pk>/", views.import_detail, name="import-detail"),
    path("leads/imports/<int:pk>/mapping/", views.import_mapping, name="import-mapping"),
    path("leads/imports/<int:pk>/resniff/", views.import_resniff, name="import-resniff"),
    path("leads/imports/<int:pk>/cancel/", views.import_cancel, name="import-cancel"),
    path("leads/imports/<int:pk>/progress/", views.import_progress, name="import-progress"),
    path("leads/imports/<int:pk>/errors.csv", views.import_errors_csv, name="import-errors"),
]
