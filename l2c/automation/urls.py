from django.urls import path

from . import views

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
]
