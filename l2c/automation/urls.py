from django.urls import path

from . import views, views_rules

app_name = "automation"

urlpatterns = [
    path("automation/webhooks/", views.webhook_list, name="webhook-list"),
    path("automation/webhooks/new/", views.webhook_create, name="webhook-create"),
    path("automation/webhooks/<int:pk>/", views.webhook_detail, name="webhook-detail"),
    path("automation/webhooks/<int:pk>/edit/", views.webhook_edit, name="webhook-edit"),
    path("automation/webhooks/<int:pk>/test/", views.webhook_test, name="webhook-test"),
    path("automation/webhooks/<int:pk>/rotate-secret/", views.webhook_rotate_secret, name="webhook-rotate-secret"),
    path("automation/webhooks/<int:pk>/delete/", views.webhook_delete, name="webhook-delete"),
    path("automation/deliveries/<int:pk>/replay/", views.delivery_replay, name="delivery-replay"),
    path("automation/rules/", views_rules.rule_list, name="rule-list"),
    path("automation/rules/new/", views_rules.rule_create, name="rule-create"),
    path("automation/rules/<int:pk>/", views_rules.rule_detail, name="rule-detail"),
    path("automation/rules/<int:pk>/edit/", views_rules.rule_edit, name="rule-edit"),
    path("automation/rules/<int:pk>/delete/", views_rules.rule_delete, name="rule-delete"),
    path("automation/runs/", views_rules.run_list, name="run-list"),
    path("notifications/", views_rules.notification_list, name="notification-list"),
    path("notifications/<int:pk>/read/", views_rules.notification_read, name="notification-read"),
    path("notifications/count/", views_rules.notification_count, name="notification-count"),
    path("notifications/read-all/", views_rules.notification_read_all, name="notification-read-all"),
]
