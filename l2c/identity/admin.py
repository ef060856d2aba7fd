from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import ApiToken, Team, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "role", "team", "is_active")
    list_filter = ("role", "team", "is_active")
    fieldsets = (*BaseUserAdmin.fieldsets, ("L2C", {"fields": ("role", "team", "language")}))


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "description")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("token_hash", "prefix")
