from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("settings/tokens/", views.token_list, name="settings-tokens"),
    path("settings/users/", views.user_list, name="settings-users"),
    path("settings/users/new/", views.user_create, name="settings-user-new"),
    path("settings/users/<int:pk>/", views.user_detail, name="settings-user"),
    path("settings/users/<int:pk>/password/", views.user_password, name="settings-user-password"),
    path("settings/users/<int:pk>/unlock/", views.user_unlock, name="settings-user-unlock"),
    path("settings/users/<int:pk>/tokens/<int:token_pk>/revoke/", views.user_token_revoke,
         name="settings-user-token-revoke"),
    path("settings/teams/", views.team_list, name="settings-teams"),
    path("settings/teams/new/", views.team_create, name="settings-team-new"),
    path("settings/teams/<int:pk>/", views.team_detail, name="settings-team"),
]
