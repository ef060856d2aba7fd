from django.urls import path

from . import views

app_name = "pipeline"
urlpatterns = [
    path("opportunities/", views.opportunity_list, name="opportunity-list"),
    path("opportunities/new/", views.opportunity_create, name="opportunity-create"),
    path("opportunities/export/", views.opportunity_export, name="opportunity-export"),
    path("opportunities/panel/", views.opportunity_panel, name="opportunity-panel"),
    path("opportunities/<int:pk>/", views.opportunity_detail, name="opportunity-detail"),
    path("opportunities/<int:pk>/edit/", views.opportunity_edit, name="opportunity-edit"),
    path("opportunities/<int:pk>/move/", views.opportunity_move, name="opportunity-move"),
    path("pipeline/", views.board, name="board"),
    path("pipeline/move/", views.board_move, name="board-move"),
    path("leads/<int:pk>/convert/", views.lead_convert, name="lead-convert"),
    path("activities/", views.activity_list, name="activity-list"),
    path("activities/panel/", views.activity_panel, name="activity-panel"),
    path("activities/export/", views.activity_export, name="activity-export"),
    path("activities/<int:pk>/edit/", views.activity_edit, name="activity-edit"),
    path("activities/<int:pk>/complete/", views.activity_complete, name="activity-complete"),
    path("activities/<int:pk>/reopen/", views.activity_reopen, name="activity-reopen"),
    path("settings/stages/", views.stage_settings, name="stage-settings"),
    path("settings/stages/new/", views.stage_edit, name="stage-create"),
    path("settings/stages/<int:pk>/", views.stage_edit, name="stage-edit"),
]
