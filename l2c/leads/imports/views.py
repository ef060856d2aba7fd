"""Import pages: my imports, upload, the mapping step, progress, the result and its error report.
Thin: parse with a form, call a selector or service, render."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from l2c.core.errors import DomainError, NotFound
from l2c.core.forms import show_domain_error
from l2c.customers.views import page_of

from ..choices import ImportStatus
from . import selectors, services
from .forms import ImportUploadForm, MappingForm, ResniffForm

# multipart overhead allowed above the file size limit before the body is refused unread
_MULTIPART_SLACK = 1024 * 1024


def _require_importer(user) -> None:
    if not user.is_sales:
        raise DjangoPermissionDenied(_("Your role cannot import leads."))


def _job_or_404(request, pk):
    _require_importer(request.user)
    try:
        return selectors.import_job_get(user=request.user, pk=pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _stage(job) -> str:
    if job.status == ImportStatus.PENDING:
        return "queued" if job.queued_at else "mapping"
    if job.status == ImportStatus.RUNNING:
        return "running"
    return "done"


@login_required
@require_GET
def import_list(request):
    _require_importer(request.user)
    qs = selectors.import_job_list(user=request.user)
    page_obj = page_of(request, qs)
    for job in page_obj:
        selectors.with_live_progress(job)
        job.percent = selectors.progress_percent(job)
    return render(request, "leads/imports/job_list.html", {"page_obj": page_obj})


def _too_big_for_limit(request) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return length > services.max_upload_bytes() + _MULTIPART_SLACK


@login_required
@require_http_methods(["GET", "POST"])
def import_create(request):
    _require_importer(request.user)
    if request.method == "POST" and _too_big_for_limit(request):
        # refused before Django reads (and spools to disk) the whole body
        form = ImportUploadForm(user=request.user)
        form.add_error(None, _("The file is larger than %(limit)s MB, the most an import accepts. Split it into "
                               "smaller files.") % {"limit": services._megabytes(services.max_upload_bytes())})
        return render(request, "leads/imports/job_new.html", {"form": form}, status=413)
    form = ImportUploadForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = services.import_job_create(
                actor=request.user, uploaded_file=upload, original_name=upload.name,
                encoding=form.cleaned_data["encoding"], delimiter=form.cleaned_data["delimiter"],
                **form.option_values())
        except DomainError as exc:
            show_domain_error(form, exc)
        else:
            messages.success(request, _("“%(name)s” uploaded. Check how its columns map to lead fields, then start "
                                        "the import.") % {"name": job.original_name})
            return redirect("leads:import-detail", pk=job.pk)
    return render(request, "leads/imports/job_new.html", {"form": form})


def _detail_context(request, job, *, form=None, resniff_form=None) -> dict:
    stage = _stage(job)
    context = {"job": job, "stage": stage, "percent": selectors.progress_percent(job)}
    if stage == "mapping":
        fields = services.importable_fields()
        form = form or MappingForm(job=job, fields=fields, user=request.user)
        context.update(form=form, columns=form.column_rows(job.preview), preview_rows=len(job.preview),
                       resniff_form=resniff_form or ResniffForm(initial={"encoding": "", "delimiter": ""}),
                       delimiter_label=services.DELIMITERS.get(job.delimiter, job.delimiter))
    elif stage == "done":
        context["errors"] = selectors.import_job_errors(job=job)
        context["errors_shown"] = selectors.ERRORS_SHOWN
        context["took_seconds"] = ((job.finished_at - job.started_at).total_seconds()
                                   if job.started_at and job.finished_at else None)
    return context


@login_required
@require_GET
def import_detail(request, pk: int):
    job = _job_or_404(request, pk)
    return render(request, "leads/imports/job_detail.html", _detail_context(request, job))


def _mapping_field_map(form: MappingForm) -> dict[str, str]:
    return {f"mapping.{header}": name for _index, header, name in form.columns}


@login_required
@require_POST
def import_mapping(request, pk: int):
    """Save the mapping and options; with `start` in the form, start the import too."""
    job = _job_or_404(request, pk)
    if _stage(job) != "mapping":
        messages.error(request, _("This import has already been started; its mapping can no longer change."))
        return redirect("leads:import-detail", pk=job.pk)
    form = MappingForm(request.POST, job=job, fields=services.importable_fields(), user=request.user)
    if form.is_valid():
        try:
            job = services.import_job_update_mapping(job=job, actor=request.user, mapping=form.mapping(),
                                                     **form.option_values())
            if "start" in request.POST:
                services.import_job_start(job=job, actor=request.user)
        except DomainError as exc:
            show_domain_error(form, exc, _mapping_field_map(form))
        else:
            if "start" in request.POST:
                messages.success(request, _("Import started."))
            else:
                messages.success(request, _("Mapping saved."))
            return redirect("leads:import-detail", pk=job.pk)
    job = selectors.import_job_get(user=request.user, pk=job.pk)
    return render(request, "leads/imports/job_detail.html", _detail_context(request, job, form=form), status=422)


@login_required
@require_POST
def import_resniff(request, pk: int):
    """Read the file again with the chosen encoding and delimiter."""
    job = _job_or_404(request, pk)
    form = ResniffForm(request.POST)
    if form.is_valid():
        try:
            job = services.import_job_resniff(job=job, actor=request.user, encoding=form.cleaned_data["encoding"],
                                              delimiter=form.cleaned_data["delimiter"])
        except DomainError as exc:
            messages.error(request, exc.message if not exc.errors else " ".join(e.message for e in exc.errors))
        else:
            messages.success(request, _("File read again as %(encoding)s.") % {"encoding": job.encoding or "—"})
    return redirect("leads:import-detail", pk=job.pk)


@login_required
@require_POST
def import_cancel(request, pk: int):
    job = _job_or_404(request, pk)
    try:
        job = services.import_job_cancel(job=job, actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if job.status == ImportStatus.CANCELLED:
            messages.success(request, _("Import cancelled."))
        else:
            messages.success(request, _("Stopping the import… nothing it has read so far will be written."))
    return redirect("leads:import-detail", pk=job.pk)


@login_required
@require_GET
def import_progress(request, pk: int):
    """The progress panel, polled by HTMX every second while the job is queued or running. When it
    has ended, the whole page reloads to show the result."""
    job = _job_or_404(request, pk)
    stage = _stage(job)
    if stage not in ("queued", "running"):
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return render(request, "leads/imports/_progress.html",
                  {"job": job, "stage": stage, "percent": selectors.progress_percent(job)})


@login_required
@require_GET
def import_errors_csv(request, pk: int):
    job = _job_or_404(request, pk)
    try:
        fh = selectors.import_job_error_report(job=job)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    stem = job.original_name.rsplit(".", 1)[0] or "import"
    return FileResponse(fh, as_attachment=True, filename=f"{stem}-errors.csv", content_type="text/csv; charset=utf-8")
