"""Forms that parse input for a service: the form turns strings into values and renders widgets;
the service validates the business rules and saves. `show_domain_error` puts a service's field
errors beside the form's fields (and anything else at the top of the form)."""
from __future__ import annotations

from django import forms

from .errors import DomainError


class ServiceModelForm(forms.ModelForm):
    """A ModelForm used only to parse and render. It never saves and skips the model's own
    validation: the service is the one place the rules live."""

    def _post_clean(self):
        pass

    def save(self, commit=True):  # pragma: no cover - guard against misuse
        raise NotImplementedError("Call the service with form.cleaned_data instead.")

    def changed_values(self) -> dict:
        """cleaned_data limited to the fields the user changed (for an update service)."""
        return {name: self.cleaned_data[name] for name in self.changed_data if name in self.cleaned_data}


def show_domain_error(form: forms.BaseForm, exc: DomainError, field_map: dict[str, str] | None = None) -> None:
    """Attach `exc`'s field errors to the matching form fields; the rest become non-field errors."""
    field_map = field_map or {}
    errors = exc.errors or []
    if not errors:
        form.add_error(None, exc.message)
        return
    for error in errors:
        name = field_map.get(error.field, error.field)
        if name in form.fields:
            form.add_error(name, error.message)
        else:
            form.add_error(None, f"{error.field}: {error.message}" if error.field not in ("__all__", None)
                           else error.message)
