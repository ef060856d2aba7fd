from django.urls import path

from . import views
from .scoring import views as scoring_views

app_name = "nurture"

urlpatterns = [
    path("nurture/", views.template_list, name="template-list"),
    path("nurture/templates/new/", views.template_create, name="template-create"),
    path("nurture/templates/<int:pk>/", views.template_edit, name="template-edit"),
    path("nurture/templates/<int:pk>/delete/", views.template_delete, name="template-delete"),
    path("nurture/suppressions/", views.suppression_list, name="suppression-list"),
    path("nurture/suppressions/<int:pk>/remove/", views.suppression_remove, name="suppression-remove"),
    path("nurture/settings/", views.nurture_settings, name="settings"),
    path("nurture/scoring/rules/", scoring_views.rule_list, name="scoring-rules"),
    path("nurture/scoring/rules/<int:pk>/", scoring_views.rule_edit, name="scoring-rule-edit"),
    path("nurture/scoring/rules/<int:pk>/delete/", scoring_views.rule_delete, name="scoring-rule-delete"),
    path("nurture/scoring/model/", scoring_views.model_page, name="scoring-model"),
    path("u/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
