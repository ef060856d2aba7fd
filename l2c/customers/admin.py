"""Admin for accounts and contacts. Saves go through the services, so admin edits are validated
the same way and audited like any other change."""
from django.contrib import admin
from django.db import transaction

from l2c.core.errors import DomainError

from . import services
from .models import Account, Contact


class ServiceAdminMixin:
    """Create/update through `create_service` / `update_service`; a refused change shows on the form."""

    create_service = None
    update_service = None
    instance_arg = ""

    def get_form(self, request, obj=None, **kwargs):
        form_class = super().get_form(request, obj, **kwargs)
        admin_self = self

        class ServiceForm(form_class):
            def _post_clean(self):
                super()._post_clean()
                if not self.errors:
                    # dry run: the service validates inside a savepoint that is rolled back
                    try:
                        with transaction.atomic():
                            admin_self._save(request, self, dry_run=True)
                            raise _Rollback
                    except _Rollback:
                        pass
                    except DomainError as exc:
                        for error in exc.errors or []:
                            field = error.field if error.field in self.fields else None
                            self.add_error(field, error.message)
                        if not exc.errors:
                            self.add_error(None, exc.message)

        return ServiceForm

    def _save(self, request, form, dry_run=False):
        values = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
        if form.instance.pk is None:
            values = {name: form.cleaned_data[name] for name in form.cleaned_data}
            return type(self).create_service(actor=request.user, **values)
        return type(self).update_service(actor=request.user, **{self.instance_arg: form.instance}, **values)

    def save_model(self, request, obj, form, change):
        saved = self._save(request, form)
        obj.pk = saved.pk
        obj.refresh_from_db()


class _Rollback(Exception):
    pass


class ContactInline(admin.TabularInline):
    model = Contact
    fields = ("first_name", "last_name", "title", "email", "phone", "owner")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Account)
class AccountAdmin(ServiceAdminMixin, admin.ModelAdmin):
    list_display = ("name", "domain", "industry", "size", "city", "country", "owner", "created_at")
    list_filter = ("size", "country")
    search_fields = ("name", "domain", "website", "phone")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    readonly_fields = ("created_at", "updated_at")
    inlines = [ContactInline]
    create_service = services.account_create
    update_service = services.account_update
    instance_arg = "account"


@admin.register(Contact)
class ContactAdmin(ServiceAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "account", "title", "email", "phone", "country", "owner")
    list_filter = ("country",)
    search_fields = ("first_name", "last_name", "email", "phone", "account__name")
    list_select_related = ("account", "owner")
    raw_id_fields = ("account", "owner")
    readonly_fields = ("created_at", "updated_at")
    create_service = services.contact_create
    update_service = services.contact_update
    instance_arg = "contact"

