"""The lead fields a web form may ask for, with their default label and how the browser shows them."""
from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from l2c.customers.models import CompanySize

from ..models import Lead

HONEYPOT_FIELD = "l2c_hp"  # hidden by CSS; people leave it empty, form-filling robots do not
CONSENT_FIELD = "consent"
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
TRUE_VALUES = {"1", "true", "yes", "on", "y"}
MAX_LABEL = 200


@dataclass(frozen=True)
class CaptureField:
    name: str
    label: str
    input_type: str = "text"  # text | email | tel | url | textarea | select
    autocomplete: str = ""
    max_length: int = 0

    @property
    def choices(self):
        return CompanySize.choices if self.name == "company_size" else []


def _max(name: str) -> int:
    return Lead._meta.get_field(name).max_length or 0


CAPTURE_FIELDS: dict[str, CaptureField] = {f.name: f for f in (
    CaptureField("first_name", _("First name"), autocomplete="given-name", max_length=_max("first_name")),
    CaptureField("last_name", _("Last name"), autocomplete="family-name", max_length=_max("last_name")),
    CaptureField("email", _("E-mail"), "email", "email", _max("email")),
    CaptureField("phone", _("Phone"), "tel", "tel", _max("phone")),
    CaptureField("company", _("Company"), autocomplete="organization", max_length=_max("company")),
    CaptureField("title", _("Job title"), autocomplete="organization-title", max_length=_max("title")),
    CaptureField("website", _("Website"), "url", "url", _max("website")),
    CaptureField("industry", _("Industry"), max_length=_max("industry")),
    CaptureField("company_size", _("Company size"), "select"),
    CaptureField("city", _("City"), autocomplete="address-level2", max_length=_max("city")),
    CaptureField("country", _("Country (ISO code, e.g. CN, US)"), autocomplete="country", max_length=2),
    CaptureField("description", _("Message"), "textarea", max_length=5000),
)}


def form_fields(form) -> list[dict]:
    """The form's configured fields in order, each with its catalogue entry: [{name, label, required, spec}]."""
    out = []
    for item in form.fields or []:
        spec = CAPTURE_FIELDS.get(item.get("name"))
        if spec is None:
            continue
        out.append({"name": spec.name, "label": item.get("label") or str(spec.label),
                    "required": bool(item.get("required")), "spec": spec})
    return out
