"""API routes of nurture: e-mail templates (list, create, read, change, delete, preview) and the suppression
list (list, add, remove).

Reads and previews: every signed-in user. Template writes and adding a suppression: managers and admins;
removing a suppression: admins. Bad input is a 422 naming the field (versions[0].html, email, …).
"""
from __future__ import annotations

import datetime as dt

from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict

from l2c.core.api_types import LimitOffsetPagination
from l2c.leads.selectors import lead_get

from . import selectors, services
from .choices import SuppressionReason

router = Router(tags=["nurture"])


class StrictSchema(Schema):
    """Unknown fields are refused, so a misspelt field is an error, not silently lost."""

    model_config = ConfigDict(extra="forbid")


class VersionIn(StrictSchema):
    language: str = Field(..., description='"en" or "zh-hans"')
    subject: str = Field("", description="Merge fields allowed, e.g. {{ lead.first_name }}")
    html: str = Field("", description="HTML body with merge fields (escaped)")
    text: str = Field("", description="Plain-text body; empty: derived from the HTML")


class TemplateIn(StrictSchema):
    name: str
    description: str = ""
    is_active: bool = True
    versions: list[VersionIn] = Field(..., description="One per language; English is required")


class TemplatePatch(StrictSchema):
    name: str | None = None
    description: str | None = None
    is_active: bool | None = None
    versions: list[VersionIn] | None = Field(None, description="Replaces the languages given; a version with "
                                                               "empty subject and bodies removes that language")


class VersionOut(Schema):
    language: str
    subject: str
    html: str
    text: str


class TemplateOut(Schema):
    id: int
    name: str
    description: str
    is_active: bool
    versions: list[VersionOut]
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_versions(obj):
        return list(obj.versions.all())


class PreviewIn(StrictSchema):
    language: str = "en"
    lead_id: int | None = Field(None, description="Render for this lead (one you may see); default: a sample lead")


class RenderedOut(Schema):
    language: str
    subject: str
    html: str
    text: str


class SuppressionIn(StrictSchema):
    email: str
    reason: SuppressionReason = SuppressionReason.MANUAL
    source: str = Field("", max_length=services.MAX_SOURCE)


class SuppressionOut(Schema):
    id: int
    email: str
    reason: SuppressionReason
    source: str
    created_at: dt.datetime
    created_by: int | None = Field(None, alias="created_by_id")


def _versions(data) -> list[dict]:
    return [v.model_dump() for v in data]


@router.get("/email-templates", response=list[TemplateOut])
@paginate(LimitOffsetPagination)
def list_templates(request, q: str = ""):
    return selectors.template_list(user=request.auth, q=q)


@router.post("/email-templates", response={201: TemplateOut})
def create_template(request, data: TemplateIn):
    values = data.model_dump()
    values["versions"] = _versions(data.versions)
    template = services.template_create(actor=request.auth, **values)
    return Status(201, selectors.template_get(user=request.auth, pk=template.pk))


@router.get("/email-templates/{int:template_id}", response=TemplateOut)
def get_template(request, template_id: int):
    return selectors.template_get(user=request.auth, pk=template_id)


@router.patch("/email-templates/{int:template_id}", response=TemplateOut)
def update_template(request, template_id: int, data: TemplatePatch):
    services.require_template_editor(request.auth)
    template = selectors.template_get(user=request.auth, pk=template_id)
    values = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    if data.versions is not None:
        values["versions"] = _versions(data.versions)
    services.template_update(actor=request.auth, template=template, **values)
    return selectors.template_get(user=request.auth, pk=template_id)


@router.delete("/email-templates/{int:template_id}", response={204: None})
def delete_template(request, template_id: int):
    services.require_template_editor(request.auth)
    template = selectors.template_get(user=request.auth, pk=template_id)
    services.template_delete(actor=request.auth, template=template)
    return Status(204, None)


@router.post("/email-templates/{int:template_id}/preview", response=RenderedOut)
def preview_template(request, template_id: int, data: PreviewIn):
    template = selectors.template_get(user=request.auth, pk=template_id)
    lead = lead_get(user=request.auth, pk=data.lead_id) if data.lead_id is not None else None
    rendered = services.template_preview(template=template, language=data.language, user=request.auth, lead=lead)
    return {"language": rendered.language, "subject": rendered.subject, "html": rendered.html,
            "text": rendered.text}


@router.get("/suppressions", response=list[SuppressionOut])
@paginate(LimitOffsetPagination)
def list_suppressions(request, q: str = ""):
    return selectors.suppression_list(user=request.auth, q=q)


@router.post("/suppressions", response={201: SuppressionOut, 200: SuppressionOut})
def add_suppression(request, data: SuppressionIn):
    """Idempotent: an address already on the list answers 200 with the row there (its reason unchanged)."""
    existing = selectors.suppression_for(data.email)
    suppression = services.suppress(email=data.email, reason=data.reason, source=data.source, actor=request.auth)
    return Status(200 if existing else 201, suppression)


@router.delete("/suppressions/{int:suppression_id}", response={204: None})
def delete_suppression(request, suppression_id: int):
    suppression = selectors.suppression_get(user=request.auth, pk=suppression_id)
    services.unsuppress(actor=request.auth, suppression=suppression)
    return Status(204, None)
