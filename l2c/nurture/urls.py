from django.urls import path

from . import views, views_tracking
from .scoring import views as scoring_views
from .sequences import views as sequence_views

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
    path("t/o/<str:token>.gif", views_tracking.open_pixel, name="track-open"),
    path("t/c/<str:token>/", views_tracking.click, name="track-click"),
]

urlpatterns += [  # e-mail sequences
    path("nurture/sequences/", sequence_views.sequence_list, name="sequence-list"),
    path("nurture/sequences/new/", sequence_views.sequence_create, name="sequence-create"),
    path("nurture/sequences/<int:pk>/", sequence_views.sequence_detail, name="sequence-detail"),
    path("nurture/sequences/<int:pk>/edit/", sequence_views.sequence_edit, name="sequence-edit"),
    path("nurture/sequences/<int:pk>/delete/", sequence_views.sequence_delete, name="sequence-delete"),
    path("nurture/sequences/<int:pk>/enrollments/", sequence_views.enrollment_list, name="sequence-enrollments"),
    path("nurture/sequences/<int:pk>/enrollments/<int:enrollment_pk>/unenroll/",
         sequence_views.enrollment_unenroll, name="enrollment-unenroll"),
    path("nurture/sequences/<int:pk>/enrollments/<int:enrollment_pk>/replied/",
         sequence_views.enrollment_replied, name="enrollment-replied"),
    path("nurture/sequences/<int:pk>/enroll/", sequence_views.sequence_enroll, name="sequence-enroll"),
    path("nurture/sequences/<int:pk>/<str:action>/", sequence_views.sequence_action, name="sequence-action"),
    path("nurture/sequences/enroll-lead/<int:lead_pk>/", sequence_views.lead_enroll, name="lead-enroll"),
]
