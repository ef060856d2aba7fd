"""Writes for web forms: configure a form (admins and managers), take a public submission, and the
bulk API's capture of many leads at once. Every write is one transaction with its audit event."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import audit, changes, events
from l2c.core.errors import FieldError, PermissionDenied, ValidationFailed
from l2c.core.validation import check_choice, check_max_lengths, check_owner, raise_if_errors
from l2c.core.visibility import Role

from .. import services as lead_services
from ..choices import ConsentBasis, LeadSource, LeadStatus, OnDuplicate, TouchKind
from ..dedupe.keys import email_key
from ..models import Lead, Touch, WebForm
from . import selectors
from .fields import CAPTURE_FIELDS, CONSENT_FIELD, MAX_LABEL, TRUE_VALUES, UTM_FIELDS, form_fields

log = logging.getLogger(__name__)

FORM_FIELDS = ("name", "fields", "campaign", "source", "owner", "consent_text", "consent_required",
               "thank_you_text", "redirect_url", "allowed_origins", "is_active")
MAX_TEXT = 5000  # consent and thank-you texts
MAX_ORIGINS = 50


def require_form_manager(actor) -> None:
    if not (getattr(actor, "is_admin", False) or getattr(actor, "role", None) == Role.MANAGER):
        raise PermissionDenied(_("Only managers and admins can set up web forms."))


# --- configuration ---------------------------------------------------------------------------------

def clean_fields(raw) -> tuple[list[dict], list[FieldError]]:
    """The form's field list: known lead fields, once each, in order, with a label and a required flag.
    A lead needs a last name, and a way to reach the person: e-mail or phone."""
    if not isinstance(raw, list):
        return [], [FieldError("fields", _("Give the fields as a list."), "invalid")]
    cleaned, errors, seen = [], [], set()
    for position, item in enumerate(raw, start=1):
        name = item.get("name") if isinstance(item, dict) else None
        if name not in CAPTURE_FIELDS:
            errors.append(FieldError("fields", _("Field %(n)d: %(name)r is not a lead field a form can ask for.")
                                     % {"n": position, "name": name}, "unknown_field"))
            continue
        if name in seen:
            errors.append(FieldError("fields", _("%(name)s appears twice.") % {"name": name}, "duplicate"))
            continue
        seen.add(name)
        label = str(item.get("label") or "").strip()
        if len(label) > MAX_LABEL:
            errors.append(FieldError("fields", _("The label of %(name)s has more than %(max)d characters.")
                                     % {"name": name, "max": MAX_LABEL}, "max_length"))
        cleaned.append({"name": name, "label": label[:MAX_LABEL], "required": bool(item.get("required"))})
    by_name = {item["name"]: item for item in cleaned}
    if not errors:
        if "last_name" not in by_name or not by_name["last_name"]["required"]:
            errors.append(FieldError("fields", _("Every lead needs a last name: include it as a required field."),
                                     "last_name_required"))
        if "email" not in by_name and "phone" not in by_name:
            errors.append(FieldError("fields", _("Ask for an e-mail address or a phone number, or nobody can "
                                                 "answer the lead."), "contact_required"))
    return cleaned, errors


def clean_origins(raw: str) -> tuple[str, list[FieldError]]:
    """One origin per line (https://www.example.com[:port]); normalised to lower case, no path."""
    origins, errors = [], []
    for line in (raw or "").replace(",", "\n").splitlines():
        text = line.strip().rstrip("/")
        if not text:
            continue
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query \
                or parts.fragment or parts.username or parts.password:
            errors.append(FieldError("allowed_origins", _("%(value)r is not an origin like https://www.example.com "
                                                          "(scheme and host, no path).") % {"value": text},
                                     "invalid_origin"))
            continue
        try:
            port = parts.port
        except ValueError:
            errors.append(FieldError("allowed_origins", _("%(value)r has an invalid port.") % {"value": text},
                                     "invalid_origin"))
            continue
        origin = f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port else "")
        if origin not in origins:
            origins.append(origin)
    if len(origins) > MAX_ORIGINS:
        errors.append(FieldError("allowed_origins", _("At most %(max)d origins.") % {"max": MAX_ORIGINS},
                                 "too_many"))
    return "\n".join(origins), errors


def _form_errors(values: dict, actor, *, form: WebForm | None) -> list[FieldError]:
    errors = check_max_lengths(WebForm, values)
    if form is None or "name" in values:
        values["name"] = (values.get("name") or "").strip()
        if not values["name"]:
            errors.append(FieldError("name", _("This field is required."), "required"))
    if form is None or "fields" in values:
        values["fields"], field_errors = clean_fields(values.get("fields", []))
        errors += field_errors
    errors += check_choice(values, "source", LeadSource)
    if values.get("owner") is not None:
        errors += check_owner(values["owner"], actor)
    for name in ("consent_text", "thank_you_text"):
        if name in values:
            values[name] = (values[name] or "").strip()
            if len(values[name]) > MAX_TEXT:
                errors.append(FieldError(name, _("At most %(limit)d characters (got %(count)d).")
                                         % {"limit": MAX_TEXT, "count": len(values[name])}, "max_length"))
    if values.get("redirect_url"):
        values["redirect_url"] = values["redirect_url"].strip()
        try:
            URLValidator(schemes=["http", "https"])(values["redirect_url"])
        except DjangoValidationError:
            errors.append(FieldError("redirect_url", _("Give a full http:// or https:// address."), "invalid_url"))
    elif "redirect_url" in values:
        values["redirect_url"] = ""
    if "allowed_origins" in values:
        values["allowed_origins"], origin_errors = clean_origins(values["allowed_origins"])
        errors += origin_errors
    consent_required = values.get("consent_required", form.consent_required if form else False)
    consent_text = values.get("consent_text", form.consent_text if form else "")
    if consent_required and not consent_text:
        errors.append(FieldError("consent_text", _("A required consent needs the text the visitor agrees to."),
                                 "required"))
    return errors


@transaction.atomic
def webform_create(*, actor, name: str, fields: list, **values) -> WebForm:
    require_form_manager(actor)
    lead_services._reject_unknown(values, FORM_FIELDS)
    values = {"name": name, "fields": fields, **values}
    raise_if_errors(_form_errors(values, actor, form=None))
    form = WebForm.objects.create(created_by=actor, **values)
    audit.record(actor=actor, action=audit.Action.CREATE, instance=form)
    return form


@transaction.atomic
def webform_update(*, form: WebForm, actor, **values) -> WebForm:
    require_form_manager(actor)
    lead_services._reject_unknown(values, FORM_FIELDS)
    form = WebForm.objects.select_for_update().get(pk=form.pk)
    raise_if_errors(_form_errors(values, actor, form=form))
    before = audit.snapshot(form)
    for name, value in values.items():
        setattr(form, name, value)
    form.save()
    audit.record(actor=actor, action=audit.Action.UPDATE, instance=form, before=before)
    return form


# --- a public submission -----------------------------------------------------------------------------

@dataclass
class Submission:
    """What a visitor sent to POST /f/<key>, and where from."""

    data: dict[str, str]
    ip: str | None = None
    user_agent: str = ""
    referrer: str = ""
    utm_from_referrer: dict[str, str] = field(default_factory=dict)


def _choose_owner(form: WebForm, values: dict):
    """The form's fixed owner while they may own leads, else the assignment rules (None: unassigned)."""
    if form.owner_id is not None and not check_owner(form.owner, None):
        return form.owner
    try:
        from l2c.leads.assignment.services import choose_owner
    except ImportError:  # assignment rules not installed: the lead waits in the unassigned queue
        return None
    return choose_owner(values={"country": values.get("country", ""), "source": values.get("source", ""),
                                "campaign": values.get("campaign").pk if values.get("campaign") else None,
                                "campaign_id": values.get("campaign").pk if values.get("campaign") else None})


def audit_label(form: WebForm) -> str:
    return f"web form {form.name}"[:150]


@transaction.atomic
def webform_submit(*, form: WebForm, submission: Submission) -> Lead:
    """Capture one submission: validate it against the form, then either add a Touch to the open lead
    with the same e-mail (filling its empty fields) or create the lead with its first Touch.
    Raises ValidationFailed (field names are the form's input names) and changes nothing then."""
    data = submission.data
    errors: list[FieldError] = []
    values: dict = {}
    for item in form_fields(form):
        name = item["name"]
        value = str(data.get(name) or "").strip() if name != "description" else str(data.get(name) or "")
        if item["required"] and not value.strip():
            errors.append(FieldError(name, _("This field is required."), "required"))
        spec = CAPTURE_FIELDS[name]
        if spec.max_length and len(value) > spec.max_length:
            errors.append(FieldError(name, _("At most %(limit)d characters (got %(count)d).")
                                     % {"limit": spec.max_length, "count": len(value)}, "max_length"))
        if value:
            values[name] = value
    consent = str(data.get(CONSENT_FIELD) or "").strip().lower() in TRUE_VALUES
    if form.consent_required and not consent:
        errors.append(FieldError(CONSENT_FIELD, _("Please agree to continue."), "required"))
    utm = {}
    for name in UTM_FIELDS:
        # not typed by the visitor (filled from the page address): cut to size instead of refusing
        value = str(data.get(name) or submission.utm_from_referrer.get(name) or "").strip()[:100]
        if value:
            utm[name] = value
    now = timezone.now()
    lead_values = {**values, **utm, "source": form.source, "campaign": form.campaign, "owner": None}
    if consent and form.consent_text:
        lead_values.update(consent_basis=ConsentBasis.CONSENT, consent_text=form.consent_text, consent_at=now,
                           consent_source=audit_label(form)[:200], consent_ip=submission.ip or None)
    try:
        prepared = lead_services.lead_prepare(actor=None, values=lead_values)
    except ValidationFailed as exc:
        named = {e.field for e in errors}
        errors += [e for e in exc.errors if e.field not in named]
    raise_if_errors(errors)
    touch = {
        "kind": TouchKind.FORM_SUBMISSION, "source": form.source, "campaign": form.campaign, "form": form,
        **utm, "ip": submission.ip or None, "user_agent": submission.user_agent[:300],
        "referrer": submission.referrer[:500], "occurred_at": now,
        "data": {**{k: prepared.get(k, v) for k, v in values.items()}, CONSENT_FIELD: consent},
    }
    existing = selectors.open_lead_for_email(prepared["email"]) if prepared.get("email") else None
    if existing is not None:
        fill = {k: prepared[k] for k in (*values, *utm) if k in prepared}
        if consent and form.consent_text:
            fill.update({k: prepared[k] for k in ("consent_basis", "consent_text", "consent_at", "consent_source",
                                                  "consent_ip")})
        lead = lead_services.lead_add_touch(lead=existing, touch=touch, fill=fill, actor=None,
                                            actor_label=audit_label(form))
    else:
        prepared["owner"] = _choose_owner(form, prepared)
        lead = lead_services.lead_capture(values=prepared, touch=touch, actor=None, actor_label=audit_label(form))
    # No counter is updated here: a row every submission must lock would serialise all submissions to
    # a form; the set-up pages count the form's touches instead (indexed by form).
    return lead


# --- the bulk API --------------------------------------------------------------------------------------

@dataclass
class BulkItem:
    """One item of POST /leads/bulk: parsed values (None when unparseable) and the parse errors."""

    values: dict | None
    errors: list[FieldError] = field(default_factory=list)
    given: set = field(default_factory=set)  # the fields the item sent (for on_duplicate=update)


def _dedupe_keys(values: dict) -> list[str]:
    keys = []
    if values.get("email"):
        key = email_key(values["email"])
        if key:
            keys.append("e:" + key)
    if values.get("phone"):
        keys.append("p:" + values["phone"])
    return keys


@transaction.atomic
def leads_bulk_capture(*, actor, items: list[BulkItem], on_duplicate: str = OnDuplicate.SKIP,
                       touch: dict | None = None) -> list[dict]:
    """Validate every item, then create the valid ones in one transaction (bulk_create), each with a
    Touch (kind api) and its audit event (one record_many). Duplicates (same email_key or E.164 phone,
    within the batch or against existing leads) are skipped, update the existing lead, or are created
    anyway, per `on_duplicate`. Returns one result per item, in order."""
    lead_services.require_sales(actor)
    if on_duplicate not in OnDuplicate.values:
        raise ValidationFailed.single("on_duplicate", _("Choose one of %(allowed)s.")
                                      % {"allowed": ", ".join(OnDuplicate.values)}, "invalid_choice")
    results: list[dict] = [{} for _item in items]
    prepared: dict[int, dict] = {}
    for index, item in enumerate(items):
        if item.errors or item.values is None:
            results[index] = {"index": index, "status": "error", "errors": [e.as_dict() for e in item.errors]}
            continue
        try:
            prepared[index] = lead_services.lead_prepare(actor=actor, values=dict(item.values))
        except ValidationFailed as exc:
            results[index] = {"index": index, "status": "error", "errors": [e.as_dict() for e in exc.errors]}

    to_create: list[int] = []
    to_update: list[tuple[int, Lead]] = []
    if on_duplicate == OnDuplicate.CREATE:
        to_create = sorted(prepared)
    else:
        keys = {i: _dedupe_keys(v) for i, v in prepared.items()}
        emails = {v["email"] for v in prepared.values() if v.get("email")}
        existing_by_key: dict[str, Lead] = {
            "e:" + k: lead for k, lead in selectors.leads_by_email_key(
                {email_key(e) for e in emails}, emails).items()}
        phones = {v["phone"] for v in prepared.values() if v.get("phone")}
        if phones:
            for lead in (Lead.objects.filter(phone__in=phones, merged_into__isnull=True)
                         .order_by("created_at", "id").only("id", "phone", "status", "owner_id")):
                existing_by_key["p:" + lead.phone] = lead
        visible = set()
        matched_ids = {lead.pk for lead in existing_by_key.values()}
        if matched_ids:
            visible = set(Lead.objects.restrict(actor).filter(pk__in=matched_ids).values_list("pk", flat=True))
        first_in_batch: dict[str, int] = {}
        for index in sorted(prepared):
            match = next((existing_by_key[k] for k in keys[index] if k in existing_by_key), None)
            earlier = next((first_in_batch[k] for k in keys[index] if k in first_in_batch), None)
            for k in keys[index]:
                first_in_batch.setdefault(k, index)
            if match is not None:
                result = {"index": index, "status": "duplicate"}
                if match.pk in visible:
                    result["id"] = match.pk
                    if on_duplicate == OnDuplicate.UPDATE and match.status != LeadStatus.CONVERTED:
                        to_update.append((index, match))
                        continue
                result["errors"] = [{"field": "email" if keys[index][0].startswith("e:") else "phone",
                                     "message": _("A lead with this e-mail or phone exists already."),
                                     "code": "duplicate"}]
                results[index] = result
            elif earlier is not None:
                results[index] = {"index": index, "status": "duplicate", "duplicate_of_index": earlier,
                                  "errors": [{"field": "email" if keys[index][0].startswith("e:") else "phone",
                                              "message": _("Same person as item %(i)d of this batch.")
                                              % {"i": earlier}, "code": "duplicate_in_batch"}]}
            else:
                to_create.append(index)

    for index, lead in to_update:
        given = {k: prepared[index][k] for k in items[index].given if k in prepared[index] and k != "owner"}
        lead_services.lead_update(lead=Lead.objects.get(pk=lead.pk), actor=actor, **given)
        results[index] = {"index": index, "status": "updated", "id": lead.pk}

    if to_create:
        now = timezone.now()
        leads = [Lead(status=LeadStatus.NEW, status_changed_at=now, created_at=now, updated_at=now,
                      **prepared[i]) for i in to_create]
        Lead.objects.bulk_create(leads, batch_size=500)
        if any(lead.pk is None for lead in leads):  # pragma: no cover - every supported database returns ids
            raise RuntimeError("the database did not return the ids of the new leads")
        changes.announce_range(Lead, min(lead.pk for lead in leads), max(lead.pk for lead in leads))
        base_touch = dict(touch or {"kind": TouchKind.API})
        Touch.objects.bulk_create([
            Touch(lead=lead, occurred_at=now, **{"source": lead.source, "campaign": lead.campaign, **base_touch})
            for lead in leads], batch_size=500)
        pending = []
        for lead in leads:
            after = audit.snapshot(lead)
            pending.append(audit.PendingEvent(
                action=audit.Action.CREATE, object_type=audit.object_type_of(lead), object_id=str(lead.pk),
                object_repr=str(lead), changes={k: [None, v] for k, v in after.items() if v not in (None, "", [], {})}))
        audit.record_many(pending, actor=actor)
        for index, lead in zip(to_create, leads, strict=True):
            results[index] = {"index": index, "status": "created", "id": lead.pk}
            events.publish("lead.created", {
                "lead_id": lead.pk, "source": lead.source, "campaign_id": lead.campaign_id,
                "owner_id": lead.owner_id, "actor_id": getattr(actor, "pk", None)})
    return results
