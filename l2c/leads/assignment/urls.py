from django.urls import path

from . import views

urlpatterns: list = [
    path("leads/unassigned/", views.unassigned_queue, name="assignment-unassigned"),
    path("leads/<int:pk>/reassign/", views.lead_reassign, name="assignment-reassign"),
    path("settings/assignment/", views.rule_list, name="assignment-rules"),
    path("settings/assignment/new/", views.rule_create, name="assignment-rule-create"),
    path("settings/assignment/<int:pk>/edit/", views.rule_edit, name="assignment-rule-edit"),
    path("settings/assignment/<int:pk>/delete/", views.rule_delete, name="assignment-rule-delete"),
    path("settings/assignment/<int:pk>/move/", views.rule_move, name="assignment-rule-move"),
]
