"""Admin for the catalogue: read-only. Products, price books and tax rates are changed in the app
(or the API), where the catalogue services validate and audit every change."""
from django.contrib import admin

from .models import PriceBook, PriceBookEntry, PriceTier, Product, StandaloneSellingPrice, TaxRate


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SspInline(admin.TabularInline):
    model = StandaloneSellingPrice
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Product)
class ProductAdmin(ReadOnlyAdmin):
    list_display = ("sku", "name", "kind", "billing_period", "unit", "tax_category", "revenue_rule", "active")
    list_filter = ("kind", "active", "revenue_rule")
    search_fields = ("sku", "name")
    inlines = [SspInline]


class TierInline(admin.TabularInline):
    model = PriceTier
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PriceBook)
class PriceBookAdmin(ReadOnlyAdmin):
    list_display = ("name", "currency", "segment", "valid_from", "valid_until", "active")
    list_filter = ("currency", "active")
    search_fields = ("name", "segment")


@admin.register(PriceBookEntry)
class PriceBookEntryAdmin(ReadOnlyAdmin):
    list_display = ("price_book", "product", "list_price", "pricing")
    list_filter = ("pricing", "price_book")
    search_fields = ("product__sku", "product__name")
    list_select_related = ("price_book", "product")
    inlines = [TierInline]


@admin.register(TaxRate)
class TaxRateAdmin(ReadOnlyAdmin):
    list_display = ("name", "country", "tax_category", "rate", "inclusive", "valid_from", "valid_until", "active")
    list_filter = ("country", "active", "inclusive")
    search_fields = ("name", "country", "tax_category")
