from django.urls import path, re_path

from . import views
from .problems import api_not_found

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    # last resort under /api/: an unknown endpoint answers problem+json, not the HTML 404 page
    re_path(r"^api/", api_not_found),
]
