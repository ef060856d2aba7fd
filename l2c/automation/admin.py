from django.contrib import admin

from .models import AutomationRule, RuleRun, WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("name", "url", "is_active", "created_at")
    exclude = ("secret",)
    readonly_fields = ("created_by", "secret_rotated_at")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("delivery_id", "endpoint", "event", "status", "attempts", "last_status_code", "created_at")
    list_filter = ("status", "event")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]


@admin.register(AutomationRule)
class AutomationRuleAdmin(admin.ModelAdmin):
    """Read-only here: rules are validated and audited by their services (the pages and the API)."""

    list_display = ("name", "record_type", "trigger", "is_active", "run_as", "updated_at")
    list_filter = ("record_type", "trigger", "is_active")
    readonly_fields = [f.name for f in AutomationRule._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(RuleRun)
class RuleRunAdmin(admin.ModelAdmin):
    list_display = ("rule", "record_type", "record_id", "trigger", "status", "depth", "started_at")
    list_filter = ("status", "trigger", "record_type")
    readonly_fields = [f.name for f in RuleRun._meta.fields]
