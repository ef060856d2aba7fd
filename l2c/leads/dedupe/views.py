"""Pages of the duplicate finder: the groups, the merge screen (pick, review, confirm), merge history
with undo. Thin: selectors read, services write."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from l2c.core.errors import DomainError, NotFound
from l2c.customers.views import page_of

from ..models import MergeRecord
from . import selectors, services
from .forms import MergeForm, choice_field_name

KIND_TABS = (("", gettext_lazy("All")), ("lead", gettext_lazy("Leads")), ("contact", gettext_lazy("Contacts")),
             ("mixed", gettext_lazy("Leads and contacts")))


def require_sales(user) -> None:
    if not user.is_sales:
        raise DjangoPermissionDenied(_("Your role cannot merge records."))


# --- duplicate groups -------------------------------------------------------------------------------

@login_required
@require_GET
def duplicate_list(request, kind: str | None = None):
    require_sales(request.user)
    kind = kind if kind is not None else request.GET.get("kind", "")
    try:
        qs = selectors.duplicate_groups(user=request.user, kind=kind or None)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("leads:duplicate-list")
    page_obj = page_of(request, qs)
    return render(request, "leads/dedupe/duplicate_list.html", {
        "page_obj": page_obj, "groups": selectors.present_groups(page_obj.object_list, user=request.user),
        "kind": kind, "kind_tabs": KIND_TABS, "scan": selectors.latest_scan(),
        "finished_scan": selectors.last_finished_scan(),
    })


@login_required
@require_http_methods(["GET", "POST"])
def duplicate_scan(request):
    """POST: queue a scan now; GET: the scan status card (polled by HTMX while a scan runs)."""
    require_sales(request.user)
    if request.method == "POST":
        try:
            services.duplicate_scan_request(actor=request.user, threshold=request.POST.get("threshold") or 90)
        except DomainError as exc:
            messages.error(request, exc.message)
        if not getattr(request, "htmx", None):
            return redirect("leads:duplicate-list")
    return render(request, "leads/dedupe/_scan_status.html", {
        "scan": selectors.latest_scan(), "finished_scan": selectors.last_finished_scan()})


# --- merge screen -------------------------------------------------------------------------------------

def _display(spec: services.MergeSpec, record, key: str) -> str:
    names = spec.fields[key]
    if key == "utm":
        return " ".join(f"{n.removeprefix('utm_')}={getattr(record, n)}" for n in names if getattr(record, n))
    if key == "consent":
        if not record.consent_basis:
            return ""
        parts = [record.get_consent_basis_display()]
        if record.consent_at:
            parts.append(record.consent_at.strftime("%Y-%m-%d %H:%M"))
        if record.consent_source:
            parts.append(record.consent_source)
        return " · ".join(parts)
    field = spec.model._meta.get_field(names[0])
    value = getattr(record, field.attname)
    if value in (None, ""):
        return ""
    if field.is_relation:
        return str(getattr(record, field.name))
    if field.choices:
        return str(getattr(record, f"get_{field.name}_display")())
    return str(value)


def _rows(form: MergeForm) -> list[dict]:
    spec = form.spec
    rows = []
    for key in spec.fields:
        picked = form.current_pick(key)
        cells = [{"id": r.pk, "value": _display(spec, r, key), "checked": r.pk == picked} for r in form.records]
        rows.append({"key": key, "name": choice_field_name(key), "label": services.field_label(spec, key),
                     "cells": cells, "differs": len({c["value"] for c in cells}) > 1})
    return rows


def _merge_page(request, kind: str):
    require_sales(request.user)
    spec = services.SPECS[kind]
    source = request.POST if request.method == "POST" else request.GET
    try:
        ids = selectors.parse_ids(source.get("ids", ""))
        records = selectors.merge_candidates(user=request.user, kind=kind, ids=ids)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("leads:duplicate-list" if kind == "lead" else "leads:contact-duplicate-list")
    try:
        survivor_id = int(source.get("survivor") or 0) or None
    except ValueError:
        survivor_id = None
    form = MergeForm(request.POST if request.method == "POST" else None, spec=spec, records=records,
                     survivor_id=survivor_id)
    step = request.POST.get("step", "") if request.method == "POST" else ""
    context = {"kind": kind, "spec": spec, "form": form, "records": records, "ids": ",".join(str(i) for i in ids),
               "survivor_id": form.survivor_id, "action": request.path}
    if request.method == "POST" and form.is_valid():
        survivor_id = form.cleaned_data["survivor"]
        picked = form.picked()
        others = [r.pk for r in records if r.pk != survivor_id]
        if step == "confirm":
            try:
                merge = (services.lead_merge if kind == "lead" else services.contact_merge)(
                    survivor=survivor_id, others=others, field_choices=picked, actor=request.user)
            except NotFound as exc:
                raise Http404(exc.message) from exc
            except DomainError as exc:
                for error in exc.errors or []:
                    form.add_error(None, error.message)
                if not exc.errors:
                    form.add_error(None, exc.message)
            else:
                messages.success(request, _("%(n)d records merged.") % {"n": len(records)})
                return redirect("leads:merge-detail", pk=merge.pk)
        else:
            by_id = {r.pk: r for r in records}
            survivor = by_id[survivor_id]
            result = [{"label": services.field_label(spec, key), "value": _display(spec, by_id[src], key),
                       "from_other": src != survivor_id, "source": by_id[src]} for key, src in picked.items()]
            context.update({"review": True, "survivor": survivor, "others": [by_id[pk] for pk in others],
                            "result": result, "picked": picked,
                            "moving": selectors.related_counts(spec.model, others)})
            return render(request, "leads/dedupe/merge_review.html", context)
    context["rows"] = _rows(form)
    return render(request, "leads/dedupe/merge_form.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def lead_merge(request):
    return _merge_page(request, "lead")


@login_required
@require_http_methods(["GET", "POST"])
def contact_merge(request):
    return _merge_page(request, "contact")


# --- merge history and undo -----------------------------------------------------------------------------

@login_required
@require_GET
def merge_list(request):
    require_sales(request.user)
    kind = request.GET.get("kind", "")
    if kind not in ("", *MergeRecord.Kind.values):
        kind = ""
    qs = selectors.merge_list(user=request.user, kind=kind or None)
    return render(request, "leads/dedupe/merge_list.html", {"page_obj": page_of(request, qs), "kind": kind})


def _merge_or_404(request, pk):
    try:
        return selectors.merge_get(user=request.user, pk=pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc


@login_required
@require_GET
def merge_detail(request, pk: int):
    require_sales(request.user)
    merge = _merge_or_404(request, pk)
    survivor, merged = selectors.merge_records(merge)
    spec = services.SPECS[merge.kind]
    snap = merge.snapshot or {}
    before, after = snap.get("survivor_before", {}), snap.get("survivor_after", {})
    changes = []
    for name in after:
        try:
            field = spec.model._meta.get_field(name)
        except FieldDoesNotExist:  # a field removed since
            field = None
        changes.append({"label": str(field.verbose_name).capitalize() if field else name,
                        "before": _stored_display(field, before.get(name)),
                        "after": _stored_display(field, after.get(name)),
                        "kept": name in snap.get("undo", {}).get("kept_fields", [])})
    return render(request, "leads/dedupe/merge_detail.html", {
        "merge": merge, "survivor": survivor, "merged": merged, "changes": changes,
        "moved": selectors.moved_counts(merge), "undo": snap.get("undo"),
    })


def _stored_display(field, value):
    """A value from a merge snapshot as a person reads it: a user's or campaign's name, a choice's label."""
    if field is None or value in (None, ""):
        return value
    if field.is_relation:
        return str(field.related_model._base_manager.filter(pk=value).first() or value)
    if field.choices:
        return dict(field.flatchoices).get(value, value)
    return value


@login_required
@require_POST
def merge_undo(request, pk: int):
    require_sales(request.user)
    merge = _merge_or_404(request, pk)
    try:
        merge = services.merge_undo(merge=merge, actor=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        kept = merge.snapshot.get("undo", {}).get("kept_fields", [])
        if kept:
            messages.warning(request, _("Merge undone. Fields edited after the merge kept their newer values: "
                                        "%(fields)s.") % {"fields": ", ".join(kept)})
        else:
            messages.success(request, _("Merge undone: the records are separate again."))
    return redirect("leads:merge-detail", pk=merge.pk)

