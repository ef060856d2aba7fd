"""Nurture writes: e-mail templates (create, update per language, delete), rendering and preview, the
suppression list (suppress, unsuppress) and the nurture settings.

Who: managers and admins write templates and add suppressions; only admins remove a suppression or change the
settings; every signed-in user may view, preview and render templates. Every write is audited.
`suppress` is idempotent (an address is on the list once, lower-cased and stripped) and also runs without an
actor, for the unsubscribe link.
"""
from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from l2c.core import audit
from l2c.core.errors import FieldError, NotFound, PermissionDenied, ValidationFailed
from l2c.core.events import publish
from l2c.core.models import CompanyProfile

from . import merge
from .choices import FALLBACK_LANGUAGE, SuppressionReason, TemplateLanguage
from .merge import Rendered
from .models import EmailTemplate, EmailTemplateVersion, NurtureSettings, Suppression

MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_SOURCE = 200
LANGUAGES = tuple(TemplateLanguage.values)
TEMPLATE_FIELDS = ["name", "description", "is_active"]

__all__ = ["can_view", "can_edit_templates", "can_add_suppressions", "is_admin", "template_create",
           "template_update", "template_delete", "template_render", "template_preview", "source_preview",
           "normalise_email", "suppress", "unsuppress", "settings_update", "recipient_language"]


# --- permissions -------------------------------------------------------------------------------------

def _signed_in(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False))


def can_view(user) -> bool:
    return _signed_in(user)


def can_edit_templates(user) -> bool:
    return _signed_in(user) and (getattr(user, "is_admin", False) or getattr(user, "is_manager", False))


def can_add_suppressions(user) -> bool:
    return can_edit_templates(user)


def is_admin(user) -> bool:
    return _signed_in(user) and getattr(user, "is_admin", False)


def require_template_editor(user) -> None:
    if not can_edit_templates(user):
        raise PermissionDenied(_("Only a manager or an admin may create or change e-mail templates."))


# --- templates: validation -----------------------------------------------------------------------------

def _clean_versions(versions, *, creating: bool) -> dict[str, dict]:
    """{language: {"subject", "html", "text"}}; a version with neither subject nor HTML means "remove"
    (None) when updating. Raises ValidationFailed naming versions[i].field."""
    if not isinstance(versions, list | tuple):
        raise ValidationFailed.single("versions", _("Give a list of versions."), "invalid")
    errors: list[FieldError] = []
    cleaned: dict[str, dict | None] = {}
    for index, version in enumerate(versions):
        prefix = f"versions[{index}]"
        version = dict(version or {})
        language = version.get("language")
        if language not in LANGUAGES:
            errors.append(FieldError(f"{prefix}.language", _("Unknown language %(value)r: use one of %(allowed)s.")
                                     % {"value": language, "allowed": ", ".join(LANGUAGES)}, "invalid_language"))
            continue
        if language in cleaned:
            errors.append(FieldError(f"{prefix}.language", _("Language %(value)s is given twice.")
                                     % {"value": language}, "duplicate"))
            continue
        subject = (version.get("subject") or "").strip()
        html = version.get("html") or ""
        text = version.get("text") or ""
        if not creating and not subject and not html.strip() and not text.strip():
            cleaned[language] = None
            continue
        if not subject:
            errors.append(FieldError(f"{prefix}.subject", _("Give the e-mail a subject."), "required"))
        elif len(subject) > merge.MAX_SUBJECT:
            errors.append(FieldError(f"{prefix}.subject", _("At most %(limit)d characters (got %(count)d).")
                                     % {"limit": merge.MAX_SUBJECT, "count": len(subject)}, "max_length"))
        if not html.strip():
            errors.append(FieldError(f"{prefix}.html", _("Give the HTML body."), "required"))
        for name, value in (("html", html), ("text", text)):
            if len(value) > merge.MAX_BODY:
                errors.append(FieldError(f"{prefix}.{name}", _("At most %(limit)d characters (got %(count)d).")
                                         % {"limit": merge.MAX_BODY, "count": len(value)}, "max_length"))
        for name, value in (("subject", subject), ("html", html), ("text", text)):
            errors += merge.check(value, field=f"{prefix}.{name}")
        cleaned[language] = {"subject": subject, "html": html, "text": text}
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def _clean_fields(values: dict, *, creating: bool, instance: EmailTemplate | None = None) -> dict:
    errors: list[FieldError] = []
    cleaned = {}
    if "name" in values or creating:
        name = values.get("name")
        name = name.strip() if isinstance(name, str) else ""
        if not name:
            errors.append(FieldError("name", _("Give the template a name."), "required"))
        elif len(name) > MAX_NAME:
            errors.append(FieldError("name", _("At most %(limit)d characters (got %(count)d).")
                                     % {"limit": MAX_NAME, "count": len(name)}, "max_length"))
        elif EmailTemplate.objects.filter(name__iexact=name).exclude(pk=getattr(instance, "pk", None)).exists():
            errors.append(FieldError("name", _("A template named %(name)s already exists.") % {"name": name},
                                     "duplicate"))
        cleaned["name"] = name
    if "description" in values:
        description = (values.get("description") or "").strip()
        if len(description) > MAX_DESCRIPTION:
            errors.append(FieldError("description", _("At most %(limit)d characters (got %(count)d).")
                                     % {"limit": MAX_DESCRIPTION, "count": len(description)}, "max_length"))
        cleaned["description"] = description
    if "is_active" in values:
        cleaned["is_active"] = bool(values["is_active"])
    unknown = set(values) - {"name", "description", "is_active", "versions"}
    if unknown:
        raise TypeError(f"unknown template fields: {sorted(unknown)}")
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def _version_snapshot(template: EmailTemplate) -> dict:
    return {f"{v.language}.{part}": getattr(v, part) for v in template.versions.all()
            for part in ("subject", "html", "text")}


# --- templates: writes ---------------------------------------------------------------------------------

@transaction.atomic
def template_create(*, actor, name: str, versions: list[dict], description: str = "",
                    is_active: bool = True) -> EmailTemplate:
    """A new template with its versions; the English one is required (it is the fallback)."""
    require_template_editor(actor)
    errors = []
    try:
        cleaned = _clean_fields({"name": name, "description": description, "is_active": is_active}, creating=True)
    except ValidationFailed as exc:
        errors += exc.errors
    try:
        cleaned_versions = _clean_versions(versions, creating=True)
    except ValidationFailed as exc:
        errors += exc.errors
        cleaned_versions = None
    given = {dict(v or {}).get("language") for v in versions} if isinstance(versions, list | tuple) else set()
    if isinstance(versions, list | tuple) and FALLBACK_LANGUAGE not in given:
        errors.append(FieldError("versions", _("An English version is required: it is used when the "
                                               "recipient's language has none."), "required"))
    if errors:
        raise ValidationFailed(errors)
    template = EmailTemplate.objects.create(created_by=actor, **cleaned)
    EmailTemplateVersion.objects.bulk_create([EmailTemplateVersion(template=template, language=language, **parts)
                                              for language, parts in cleaned_versions.items()])
    after = {**audit.snapshot(template, TEMPLATE_FIELDS), **_version_snapshot(template)}
    audit.record(actor=actor, action=audit.Action.CREATE, instance=template,
                 changes={k: [None, v] for k, v in after.items() if v not in (None, "")})
    return template


def _locked(template) -> EmailTemplate:
    pk = getattr(template, "pk", template)
    found = EmailTemplate.objects.select_for_update().filter(pk=pk).first()
    if found is None:
        raise NotFound(_("No e-mail template with id %(id)s.") % {"id": pk})
    return found


@transaction.atomic
def template_update(*, actor, template, **values) -> EmailTemplate:
    """Change name, description, is_active and the versions given (each one replaces that language's; one
    with neither subject nor bodies removes it, except English)."""
    require_template_editor(actor)
    template = _locked(template)
    cleaned = _clean_fields(values, creating=False, instance=template)
    versions = _clean_versions(values["versions"], creating=False) if "versions" in values else {}
    if versions.get(FALLBACK_LANGUAGE, "kept") is None:
        raise ValidationFailed.single("versions", _("The English version cannot be removed: it is used when the "
                                                    "recipient's language has none."), "required")
    before = {**audit.snapshot(template, TEMPLATE_FIELDS), **_version_snapshot(template)}
    for name, value in cleaned.items():
        setattr(template, name, value)
    for language, parts in versions.items():
        if parts is None:
            EmailTemplateVersion.objects.filter(template=template, language=language).delete()
        else:
            EmailTemplateVersion.objects.update_or_create(template=template, language=language, defaults=parts)
    after = {**audit.snapshot(template, TEMPLATE_FIELDS), **_version_snapshot(template)}
    changes = audit.diff(before, after)
    if changes:
        template.save(update_fields=[*cleaned, "updated_at"])
        audit.record(actor=actor, action=audit.Action.UPDATE, instance=template, changes=changes)
    return template


@transaction.atomic
def template_delete(*, actor, template) -> None:
    require_template_editor(actor)
    template = _locked(template)
    audit.record(actor=actor, action=audit.Action.DELETE, instance=template,
                 changes={k: [v, None] for k, v in audit.snapshot(template, TEMPLATE_FIELDS).items()})
    template.delete()


# --- rendering -----------------------------------------------------------------------------------------

def recipient_language(*, lead=None, contact=None) -> str:
    """The recipient's language: its `language` when the record has one, Simplified Chinese for a lead or
    contact in mainland China (country CN), else English."""
    for person in (lead, contact):
        if person is None:
            continue
        language = getattr(person, "language", "") or ""
        if language in LANGUAGES:
            return language
        if (getattr(person, "country", "") or "").upper() == "CN":
            return TemplateLanguage.ZH_HANS
    return FALLBACK_LANGUAGE


def _person(first_name: str, last_name: str) -> str:
    if any("\u4e00" <= ch <= "\u9fff" for ch in last_name + first_name):
        return f"{last_name}{first_name}".strip()
    return f"{first_name} {last_name}".strip()


def merge_context(*, lead=None, contact=None, owner=None, company=None) -> dict:
    """Plain strings for each merge field; a field without a record is left out (it renders empty)."""
    from .unsubscribe import unsubscribe_url

    context: dict = {}
    if lead is not None:
        context["lead"] = {"first_name": lead.first_name, "last_name": lead.last_name, "email": lead.email,
                           "company": lead.company, "title": lead.title,
                           "full_name": _person(lead.first_name, lead.last_name)}
    if contact is not None:
        context["contact"] = {"first_name": contact.first_name, "last_name": contact.last_name,
                              "email": contact.email, "title": contact.title,
                              "company": getattr(getattr(contact, "account", None), "name", ""),
                              "full_name": _person(contact.first_name, contact.last_name)}
    if owner is None:
        owner = getattr(lead, "owner", None) or getattr(contact, "owner", None)
    if owner is not None:
        context["owner"] = {"name": owner.get_full_name() or owner.username, "email": owner.email}
    company = company or CompanyProfile.get()
    context["company"] = {"name": company.name, "email": company.email, "phone": company.phone,
                          "website": company.website}
    recipient = getattr(lead, "email", "") or getattr(contact, "email", "")
    if recipient:
        context["unsubscribe_url"] = unsubscribe_url(recipient)
    return context


def template_render(*, template: EmailTemplate, language: str | None = None, lead=None, contact=None,
                    owner=None) -> Rendered:
    """The template for this recipient: in `language` when given, else the recipient's language; English when
    the template has no version in it."""
    wanted = language or recipient_language(lead=lead, contact=contact)
    version = template.version(wanted)
    if version is None:
        raise NotFound(_("The template %(name)s has no version to render.") % {"name": template.name})
    context = merge_context(lead=lead, contact=contact, owner=owner)
    return merge.render_all(subject=version.subject, html=version.html, text=version.text, context=context,
                            language=version.language)


class _Sample:
    """Sample recipient for previews."""

    def __init__(self, **values):
        self.__dict__.update(values)


def sample_lead(language: str) -> _Sample:
    if language == TemplateLanguage.ZH_HANS:
        return _Sample(first_name="娜", last_name="李", email="li.na@example.com", company="示例科技有限公司",
                       title="采购经理", owner=None, country="CN")
    return _Sample(first_name="Jane", last_name="Doe", email="jane.doe@example.com", company="Example Corp",
                   title="Head of Purchasing", owner=None, country="")


def template_preview(*, template: EmailTemplate, language: str, user, lead=None) -> Rendered:
    """The template rendered for `lead`, or for a sample lead owned by `user`."""
    if language not in LANGUAGES:
        raise ValidationFailed.single("language", _("Unknown language %(value)r: use one of %(allowed)s.")
                                      % {"value": language, "allowed": ", ".join(LANGUAGES)}, "invalid_language")
    return template_render(template=template, language=language, lead=lead or sample_lead(language),
                           owner=None if lead is not None else user)


def source_preview(*, subject: str, html: str, text: str, language: str, user) -> Rendered:
    """Unsaved subject and bodies (the edit form) rendered for a sample lead; ValidationFailed as at save."""
    errors = []
    for name, value in (("subject", subject), ("html", html), ("text", text)):
        errors += merge.check(value or "", field=name)
    if errors:
        raise ValidationFailed(errors)
    context = merge_context(lead=sample_lead(language), owner=user)
    return merge.render_all(subject=subject or "", html=html or "", text=text or "", context=context,
                            language=language)


# --- suppression list ------------------------------------------------------------------------------------

def normalise_email(email) -> str:
    return email.strip().lower() if isinstance(email, str) else ""


def _check_email(email: str, field: str = "email") -> None:
    if not email:
        raise ValidationFailed.single(field, _("Give an e-mail address."), "required")
    try:
        validate_email(email)
    except DjangoValidationError:
        raise ValidationFailed.single(field, _("%(value)r is not a valid e-mail address.") % {"value": email},
                                      "invalid_email") from None


@transaction.atomic
def suppress(*, email: str, reason: str = SuppressionReason.MANUAL, source: str = "", actor=None) -> Suppression:
    """Put the address on the suppression list (once: a second call returns the row already there).
    `actor` None is the recipient themself (the unsubscribe link); a user must be a manager or an admin."""
    if actor is not None and not can_add_suppressions(actor):
        raise PermissionDenied(_("Only a manager or an admin may add an address to the suppression list."))
    email = normalise_email(email)
    _check_email(email)
    if reason not in SuppressionReason.values:
        raise ValidationFailed.single("reason", _("Unknown reason %(value)r: use one of %(allowed)s.")
                                      % {"value": reason, "allowed": ", ".join(SuppressionReason.values)},
                                      "invalid_choice")
    source = (source or "").strip()[:MAX_SOURCE]
    suppression, created = Suppression.objects.get_or_create(
        email=email, defaults={"reason": reason, "source": source, "created_by": actor})
    if created:
        audit.record(actor=actor, action=audit.Action.CREATE, instance=suppression,
                     actor_label=None if actor is not None else "unsubscribe link",
                     changes={"email": [None, email], "reason": [None, reason], "source": [None, source]})
        if reason == SuppressionReason.UNSUBSCRIBED:
            publish("nurture.unsubscribed", {"email": email, "source": source})
    return suppression


def suppressed_addresses() -> dict[str, str]:
    """Every suppressed address with its reason in words (for lead imports, through core.contact_policy)."""
    labels = dict(SuppressionReason.choices)
    return {email: str(labels.get(reason, reason)) for email, reason in Suppression.objects.values_list("email", "reason")}


@transaction.atomic
def unsuppress(*, actor, suppression) -> None:
    """Take the address off the list (admins only): it may be e-mailed again if it has a lawful basis."""
    if not is_admin(actor):
        raise PermissionDenied(_("Only an admin may remove an address from the suppression list."))
    found = Suppression.objects.select_for_update().filter(pk=getattr(suppression, "pk", suppression)).first()
    if found is None:
        raise NotFound(_("No suppressed address with id %(id)s.") % {"id": getattr(suppression, "pk", suppression)})
    audit.record(actor=actor, action=audit.Action.DELETE, instance=found,
                 changes={"email": [found.email, None], "reason": [found.reason, None]})
    found.delete()


# --- settings --------------------------------------------------------------------------------------------

@transaction.atomic
def settings_update(*, actor, legitimate_interest_allowed: bool) -> NurtureSettings:
    if not is_admin(actor):
        raise PermissionDenied(_("Only an admin may change the nurture settings."))
    current, _created = NurtureSettings.objects.select_for_update().get_or_create(pk=1)
    if current.legitimate_interest_allowed != bool(legitimate_interest_allowed):
        before = current.legitimate_interest_allowed
        current.legitimate_interest_allowed = bool(legitimate_interest_allowed)
        current.changed_by = actor
        current.changed_at = timezone.now()
        current.save()
        audit.record(actor=actor, action=audit.Action.UPDATE, instance=current,
                     changes={"legitimate_interest_allowed": [before, current.legitimate_interest_allowed]})
    return current
