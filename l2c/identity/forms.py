"""Forms for the settings pages. They only parse input; the rules live in services.py."""
from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from l2c.core.errors import DomainError
from l2c.core.visibility import Role

from .models import Team, User

LANGUAGE_CHOICES = [("", _("Browser default")), *User._meta.get_field("language").choices]


def add_domain_errors(form: forms.Form, exc: DomainError, aliases: dict[str, str] | None = None) -> None:
    """Show a service's errors beside the fields they concern (or above the form)."""
    aliases = aliases or {}
    errors = exc.errors or []
    if not errors:
        form.add_error(None, exc.message)
        return
    for error in errors:
        field = aliases.get(error.field, error.field)
        form.add_error(field if field in form.fields else None, error.message)


class _PasswordPair(forms.Form):
    password1 = forms.CharField(label=_("Password"), strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(label=_("Password (again)"), strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password2") and data["password1"] != data["password2"]:
            self.add_error("password2", _("The two passwords differ."))
        return data


class UserCreateForm(_PasswordPair):
    username = forms.CharField(label=_("User name"), max_length=150)
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_("E-mail"), max_length=254, required=False)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.REP)
    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.order_by("name"), required=False,
                                  empty_label=_("No team"))
    language = forms.ChoiceField(label=_("Language"), choices=LANGUAGE_CHOICES, required=False)

    field_order = ["username", "first_name", "last_name", "email", "role", "team", "language",
                   "password1", "password2"]


class UserEditForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_("E-mail"), max_length=254, required=False)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.order_by("name"), required=False,
                                  empty_label=_("No team"))
    language = forms.ChoiceField(label=_("Language"), choices=LANGUAGE_CHOICES, required=False)
    is_active = forms.BooleanField(label=_("Active (may log in and use the API)"), required=False)

    @classmethod
    def for_user(cls, user: User, data=None):
        initial = {"first_name": user.first_name, "last_name": user.last_name, "email": user.email,
                   "role": user.role, "team": user.team_id, "language": user.language, "is_active": user.is_active}
        return cls(data, initial=initial)


class SetPasswordForm(_PasswordPair):
    pass


class TeamForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    description = forms.CharField(label=_("Description"), max_length=300, required=False,
                                  widget=forms.Textarea(attrs={"rows": 3}))


class UserFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False)
    role = forms.ChoiceField(label=_("Role"), choices=[("", _("All roles")), *Role.choices], required=False)
    team = forms.TypedChoiceField(label=_("Team"), required=False, coerce=int, empty_value=None)
    status = forms.ChoiceField(label=_("Status"), required=False, choices=[
        ("", _("Any status")), ("active", _("Active")), ("inactive", _("Deactivated")), ("locked", _("Locked out"))])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = [("", _("All teams")), ("0", _("No team")),
                                       *[(str(t.pk), t.name) for t in Team.objects.order_by("name")]]
