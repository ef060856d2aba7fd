from django.contrib import admin

from .models import EmailTemplate, Suppression


@admin.register(EmailTemplate)
class EmailTemplateAdmin(admin.ModelAdmin):
    """Read-only: templates change through the nurture pages and API (validated, audited)."""

    list_display = ["name", "is_active", "updated_at"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    """Read-only: the list changes through the nurture pages and API (audited)."""

    list_display = ["email", "reason", "source", "created_at"]
    search_fields = ["email"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
