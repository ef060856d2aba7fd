"""Admin for leads and campaigns. Status and conversion are read-only (they change only through
their services); other edits go through the services too, so they are validated and audited."""
from django.contrib import admin

from l2c.customers.admin import ServiceAdminMixin

from . import services
from .models import Campaign, Lead


@admin.register(Campaign)
class CampaignAdmin(ServiceAdminMixin, admin.ModelAdmin):
    list_display = ("name", "type", "status", "start_date", "end_date", "budget", "cost", "currency", "owner")
    list_filter = ("type", "status")
    search_fields = ("name",)
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    readonly_fields = ("status", "created_at", "updated_at")
    create_service = services.campaign_create
    update_service = services.campaign_update
    instance_arg = "campaign"


@admin.register(Lead)
class LeadAdmin(ServiceAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "email", "company", "status", "source", "campaign", "owner", "score", "created_at")
    list_filter = ("status", "source", "country")
    search_fields = ("first_name", "last_name", "email", "company", "phone")
    list_select_related = ("owner", "campaign")
    raw_id_fields = ("owner", "campaign")
    readonly_fields = ("status", "status_changed_at", "disqualified_reason", "score", "converted_at",
                       "converted_account", "converted_contact", "converted_opportunity_id",
                       "created_at", "updated_at")
    date_hierarchy = "created_at"
    create_service = services.lead_create
    update_service = services.lead_update
    instance_arg = "lead"
