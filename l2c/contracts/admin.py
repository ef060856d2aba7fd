"""Admin: contracts and signatures are read-only here; every change goes through the services."""
from django.contrib import admin

from .models import Contract, ContractLine, Signature


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ContractLineInline(admin.TabularInline):
    model = ContractLine
    extra = 0
    can_delete = False
    fields = ("position", "product", "description", "quantity", "unit_price", "net_amount", "service_start",
              "service_end")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Contract)
class ContractAdmin(ReadOnlyAdmin):
    list_display = ("number", "account", "status", "start_date", "end_date", "gross_total", "currency", "owner")
    list_filter = ("status", "auto_renew")
    search_fields = ("number", "account__name")
    inlines = [ContractLineInline]


@admin.register(Signature)
class SignatureAdmin(ReadOnlyAdmin):
    list_display = ("quote", "signer_name", "signer_email", "signed_at", "ip_address", "consent_version")
    search_fields = ("signer_name", "signer_email", "quote__number")
    exclude = ("drawn_signature", "signed_pdf")
