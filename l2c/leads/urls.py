from django.urls import include, path

from . import views

app_name = "leads"
urlpatterns = [
    # capture: web forms (incl. the public /f/<key>), imports, duplicates and merge, assignment rules
    path("", include("l2c.leads.webforms.urls")),
    path("", include("l2c.leads.imports.urls")),
    path("", include("l2c.leads.dedupe.urls")),
    path("", include("l2c.leads.assignment.urls")),
    path("leads/", views.lead_list, name="lead-list"),
    path("leads/new/", views.lead_create, name="lead-create"),
    path("leads/board/", views.lead_board, name="lead-board"),
    path("leads/board/move/", views.lead_board_move, name="lead-board-move"),
    path("leads/export/", views.lead_export, name="lead-export"),
    path("leads/<int:pk>/", views.lead_detail, name="lead-detail"),
    path("leads/<int:pk>/edit/", views.lead_edit, name="lead-edit"),
    path("leads/<int:pk>/status/", views.lead_status, name="lead-status"),
    path("campaigns/", views.campaign_list, name="campaign-list"),
    path("campaigns/new/", views.campaign_create, name="campaign-create"),
    path("campaigns/<int:pk>/", views.campaign_detail, name="campaign-detail"),
    path("campaigns/<int:pk>/edit/", views.campaign_edit, name="campaign-edit"),
]
