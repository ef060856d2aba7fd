"""Sequence pages (/nurture/sequences/): the list, create and edit (steps as repeatable rows), the sequence
page with its report, the enrollments with an unenrol button, the enrol form (the lead list's filter, with
how many leads match before confirming), and the lead page's "Enrol in sequence" control.

Thin: parse, call a selector or service, render. Reps see sequences and reports read-only and may enrol and
unenrol the leads they may see; managers and admins change sequences.
"""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from l2c.core.errors import DomainError, NotFound
from l2c.core.forms import show_domain_error
from l2c.customers.forms import valid_filters

from ..choices import BranchCondition, EnrollmentStatus, ExitReason, SequenceStatus, StepKind
from ..models import EmailTemplate
from . import report, selectors, services

PAGE_SIZE = 50
BLANK_ROWS = 2
STEP_PREFIX = "steps"


def _get_or_404(fn, **kwargs):
    try:
        return fn(**kwargs)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _require_view(user) -> None:
    if not services.can_view(user):
        raise DjangoPermissionDenied(_("Only sales users (reps, managers, admins) work with sequences."))


def _require_editor(user) -> None:
    if not services.can_edit(user):
        raise DjangoPermissionDenied(_("Only a manager or an admin may create or change sequences."))


# --- forms -------------------------------------------------------------------------------------------

class SequenceForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=services.MAX_NAME)
    description = forms.CharField(label=gettext_lazy("Description"), required=False,
                                  max_length=services.MAX_DESCRIPTION, widget=forms.Textarea(attrs={"rows": 2}))
    from_name = forms.CharField(label=gettext_lazy("Sender name"), required=False, max_length=200,
                                help_text=gettext_lazy("Empty: the company's name."))
    from_email = forms.CharField(label=gettext_lazy("Sender address"), required=False, max_length=254,
                                 help_text=gettext_lazy("Empty: the default sender address."))
    exit_on_reply = forms.BooleanField(label=gettext_lazy("Exit when the lead replies"), required=False,
                                       initial=True)
    exit_on_conversion = forms.BooleanField(label=gettext_lazy("Exit when the lead converts"), required=False,
                                            initial=True)


class StepForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Step"), required=False,
                             choices=[("", gettext_lazy("— (no step)")), *StepKind.choices])
    template = forms.ModelChoiceField(label=gettext_lazy("Template"), required=False,
                                      queryset=EmailTemplate.objects.order_by("name"))
    wait_days = forms.IntegerField(label=gettext_lazy("Days"), required=False, min_value=0,
                                   widget=forms.NumberInput(attrs={"placeholder": gettext_lazy("days")}))
    wait_hours = forms.IntegerField(label=gettext_lazy("Hours"), required=False, min_value=0,
                                    widget=forms.NumberInput(attrs={"placeholder": gettext_lazy("hours")}))
    task_subject = forms.CharField(label=gettext_lazy("Task"), required=False, max_length=services.MAX_TASK_SUBJECT,
                                   widget=forms.TextInput(attrs={"placeholder": gettext_lazy("e.g. Call them")}))
    task_due_days = forms.IntegerField(label=gettext_lazy("Due in days"), required=False, min_value=0,
                                       widget=forms.NumberInput(attrs={"placeholder": gettext_lazy("due in days")}))
    condition = forms.ChoiceField(label=gettext_lazy("Condition"), required=False,
                                  choices=[("", "—"), *BranchCondition.choices])
    condition_value = forms.IntegerField(label=gettext_lazy("Score"), required=False,
                                         widget=forms.NumberInput(attrs={"placeholder": gettext_lazy("score")}))
    if_true = forms.IntegerField(label=gettext_lazy("Then go to step"), required=False, min_value=0,
                                 widget=forms.NumberInput(attrs={"placeholder": gettext_lazy("then: step")}))
    if_false = forms.IntegerField(label=gettext_lazy("Else go to step"), required=False, min_value=0,
                                  widget=forms.NumberInput(attrs={"placeholder": gettext_lazy("else: step")}))


StepFormSet = forms.formset_factory(StepForm, extra=0, max_num=services.MAX_STEPS, absolute_max=services.MAX_STEPS)


def _step_initial(sequence) -> list[dict]:
    if sequence is None:
        return []
    return [{"kind": s.kind, "template": s.template_id, "wait_days": s.wait_days or None,
             "wait_hours": s.wait_hours or None, "task_subject": s.task_subject, "task_due_days": s.task_due_days,
             "condition": s.condition, "condition_value": s.condition_value, "if_true": s.if_true,
             "if_false": s.if_false} for s in sequence.steps.all()]


def _step_values(form: StepForm) -> dict:
    data = form.cleaned_data
    template = data.get("template")
    return {"kind": data["kind"], "template": template.pk if template else None,
            "wait_days": data.get("wait_days") or 0, "wait_hours": data.get("wait_hours") or 0,
            "task_subject": data.get("task_subject") or "", "task_due_days": data.get("task_due_days") or 0,
            "condition": data.get("condition") or "", "condition_value": data.get("condition_value"),
            "if_true": data.get("if_true"), "if_false": data.get("if_false")}


def _steps_from(formset):
    """The service's steps (the rows with a kind, in order) and, per steps[i], the form of that row."""
    steps, owners = [], {}
    for form in formset.forms:
        if not form.cleaned_data.get("kind"):
            continue
        owners[len(steps)] = form
        steps.append(_step_values(form))
    return steps, owners


def _show_errors(main, owners, exc: DomainError) -> None:
    if not exc.errors:
        main.add_error(None, exc.message)
    for error in exc.errors:
        field = error.field or ""
        if field.startswith("steps[") and "]" in field:
            index_text, _dot, name = field[len("steps["):].partition("]")
            form = owners.get(int(index_text)) if index_text.isdigit() else None
            name = name.lstrip(".")
            if form is not None and name in form.fields:
                form.add_error(name, error.message)
                continue
            if form is not None:
                form.add_error(None, error.message)
                continue
        if field in main.fields:
            main.add_error(field, error.message)
        else:
            main.add_error(None, error.message)


def _with_blank_rows(data, more: int):
    """The POSTed formset data with `more` blank rows added (the "Add a step" button)."""
    data = data.copy()
    total = int(data.get(f"{STEP_PREFIX}-TOTAL_FORMS") or 0)
    data[f"{STEP_PREFIX}-TOTAL_FORMS"] = str(min(total + more, services.MAX_STEPS))
    return data


# --- list, detail ------------------------------------------------------------------------------------

@login_required
@require_GET
def sequence_list(request):
    _require_view(request.user)
    status = request.GET.get("status", "")
    status = status if status in SequenceStatus.values else ""
    q = request.GET.get("q", "").strip()
    return render(request, "nurture/sequences/sequence_list.html", {
        "sequences": selectors.sequence_list(user=request.user, q=q, status=status), "q": q, "status": status,
        "statuses": SequenceStatus.choices, "can_edit": services.can_edit(request.user), "nav": "nurture"})


@login_required
@require_GET
def sequence_detail(request, pk: int):
    _require_view(request.user)
    sequence = _get_or_404(selectors.sequence_get, user=request.user, pk=pk)
    data = report.sequence_report(sequence=sequence)
    exit_labels = dict(ExitReason.choices)
    return render(request, "nurture/sequences/sequence_detail.html", {
        "sequence": sequence, "report": data, "nav": "nurture",
        "exit_rows": [(exit_labels.get(reason, reason), n) for reason, n in sorted(data["exits"].items())],
        "can_edit": services.can_edit(request.user), "can_activate": services.can_activate(sequence),
        "can_pause": services.can_pause(sequence), "can_archive": services.can_archive(sequence),
        "can_enroll": sequence.status == SequenceStatus.ACTIVE})


# --- create, edit ------------------------------------------------------------------------------------

def _sequence_page(request, sequence):
    _require_editor(request.user)
    if sequence is not None and sequence.status == SequenceStatus.ARCHIVED:
        messages.error(request, _("An archived sequence cannot be changed."))
        return redirect("nurture:sequence-detail", pk=sequence.pk)
    steps_editable = sequence is None or services.can_edit_steps(sequence)
    posted = request.method == "POST"
    initial = ({name: getattr(sequence, name) for name in services.SEQUENCE_FIELDS} if sequence else None)
    data = request.POST if posted else None
    adding = posted and "add_step" in request.POST and steps_editable
    if adding:
        data = _with_blank_rows(request.POST, 1)
    main = SequenceForm(data, initial=initial)
    step_initial = _step_initial(sequence)
    formset = StepFormSet(data if steps_editable else None, prefix=STEP_PREFIX,
                          initial=step_initial + ([{}] * BLANK_ROWS if not posted and steps_editable else []))
    if not steps_editable:
        for form in formset.forms:
            for field in form.fields.values():
                field.disabled = True
    status = 200
    if posted and not adding:
        valid = main.is_valid() and (not steps_editable or formset.is_valid())
        if valid:
            values = dict(main.cleaned_data)
            owners = {}
            if steps_editable:
                values["steps"], owners = _steps_from(formset)
            try:
                if sequence is None:
                    sequence = services.sequence_create(actor=request.user, **values)
                else:
                    services.sequence_update(actor=request.user, sequence=sequence, **values)
            except DomainError as exc:
                _show_errors(main, owners, exc)
                status = 422
            else:
                messages.success(request, _("Sequence %(name)s was saved.") % {"name": sequence.name})
                return redirect("nurture:sequence-detail", pk=sequence.pk)
        else:
            status = 422
    return render(request, "nurture/sequences/sequence_form.html", {
        "sequence": sequence, "form": main, "formset": formset, "steps_editable": steps_editable,
        "nav": "nurture"}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def sequence_create(request):
    return _sequence_page(request, None)


@login_required
@require_http_methods(["GET", "POST"])
def sequence_edit(request, pk: int):
    _require_view(request.user)
    return _sequence_page(request, _get_or_404(selectors.sequence_get, user=request.user, pk=pk))


@login_required
@require_POST
def sequence_action(request, pk: int, action: str):
    _require_editor(request.user)
    sequence = _get_or_404(selectors.sequence_get, user=request.user, pk=pk)
    if action not in services.TRANSITIONS:
        raise Http404(_("No such action."))
    try:
        services.TRANSITIONS[action](actor=request.user, sequence=sequence)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Sequence %(name)s is now %(status)s.")
                         % {"name": sequence.name, "status": SequenceStatus(
                             {"activate": "active", "pause": "paused", "archive": "archived"}[action]).label})
    return redirect("nurture:sequence-detail", pk=sequence.pk)


@login_required
@require_POST
def sequence_delete(request, pk: int):
    _require_editor(request.user)
    sequence = _get_or_404(selectors.sequence_get, user=request.user, pk=pk)
    try:
        services.sequence_delete(actor=request.user, sequence=sequence)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("nurture:sequence-detail", pk=sequence.pk)
    messages.success(request, _("Sequence %(name)s was deleted.") % {"name": sequence.name})
    return redirect("nurture:sequence-list")


# --- enrollments -------------------------------------------------------------------------------------

@login_required
@require_GET
def enrollment_list(request, pk: int):
    _require_view(request.user)
    sequence = _get_or_404(selectors.sequence_get, user=request.user, pk=pk)
    status = request.GET.get("status", "")
    status = status if status in EnrollmentStatus.values else ""
    qs = selectors.enrollment_list(user=request.user, sequence=sequence, status=status)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "nurture/sequences/enrollment_list.html", {
        "sequence": sequence, "page_obj": page, "enrollments": page.object_list, "status": status,
        "statuses": EnrollmentStatus.choices, "nav": "nurture"})


def _enroll_summary(result: dict) -> str:
    text = _("%(enrolled)d enrolled, %(already)d already enrolled.") % {
        "enrolled": result["enrolled"], "already": result["already_enrolled"]}
    if result["skipped"]:
        text += " " + _("Skipped: %(reasons)s.") % {"reasons": ", ".join(
            f"{services.skip_reason_label(reason)} {n}" for reason, n in result["skipped"].items())}
    return text


@login_required
@require_http_methods(["GET", "POST"])
def sequence_enroll(request, pk: int):
    """GET: the lead list's filter and how many leads match; POST (the same filter): enrol them."""
    from l2c.leads.forms import LeadFilterForm

    _require_view(request.user)
    sequence = _get_or_404(selectors.sequence_get, user=request.user, pk=pk)
    source = request.POST if request.method == "POST" else request.GET
    form = LeadFilterForm(source or None, user=request.user)
    filters = valid_filters(form)
    filters.pop("ordering", None)
    if filters.get("campaign") is not None:
        filters["campaign"] = filters["campaign"].pk
    if request.method == "POST":
        if form.is_bound and not form.is_valid():
            messages.error(request, _("Correct the filter first."))
        else:
            try:
                result = services.enroll_by_filter(sequence=sequence, filters=filters, actor=request.user)
            except DomainError as exc:
                show_domain_error(form, exc)
                messages.error(request, exc.message)
            else:
                messages.success(request, _enroll_summary(result))
                return redirect("nurture:sequence-enrollments", pk=sequence.pk)
    matching = None
    if not form.errors:
        qs = services.filter_queryset(actor=request.user, filters=filters).order_by()
        matching = qs.values("pk")[:services.MAX_ENROLL + 1].count()
    return render(request, "nurture/sequences/enroll.html", {
        "sequence": sequence, "form": form, "matching": matching,
        "raw_filters": [(name, source.get(name)) for name in form.fields if name != "ordering" and source.get(name)],
        "too_many": matching is not None and matching > services.MAX_ENROLL, "limit": services.MAX_ENROLL,
        "can_enroll": sequence.status == SequenceStatus.ACTIVE, "nav": "nurture"})


def _back_to_lead(lead_id):
    return redirect(reverse("leads:lead-detail", args=[lead_id]))


@login_required
@require_POST
def lead_enroll(request, lead_pk: int):
    """The lead page's control: enrol this lead in the chosen sequence."""
    from l2c.leads.selectors import lead_get

    _require_view(request.user)
    lead = _get_or_404(lead_get, user=request.user, pk=lead_pk)
    sequence_id = request.POST.get("sequence", "")
    try:
        sequence = selectors.sequence_get(user=request.user, pk=sequence_id)
        result = services.enroll(sequence=sequence, leads=[lead.pk], actor=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if result["enrolled"]:
            messages.success(request, _("%(lead)s was enrolled in %(sequence)s.")
                             % {"lead": lead.full_name, "sequence": sequence.name})
        elif result["already_enrolled"]:
            messages.info(request, _("%(lead)s is already in %(sequence)s.")
                          % {"lead": lead.full_name, "sequence": sequence.name})
        else:
            reason = next(iter(result["skipped"]), "")
            messages.error(request, _("%(lead)s was not enrolled: %(reason)s.")
                           % {"lead": lead.full_name, "reason": services.skip_reason_label(reason)})
    return _back_to_lead(lead.pk)


@login_required
@require_POST
def enrollment_unenroll(request, pk: int, enrollment_pk: int):
    _require_view(request.user)
    sequence = _get_or_404(selectors.sequence_get, user=request.user, pk=pk)
    try:
        enrollment = services.unenroll(actor=request.user, enrollment=enrollment_pk, sequence=sequence)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("nurture:sequence-enrollments", pk=sequence.pk)
    messages.success(request, _("The lead was taken out of %(sequence)s.") % {"sequence": sequence.name})
    if request.POST.get("back") == "lead":
        return _back_to_lead(enrollment.lead_id)
    return redirect("nurture:sequence-enrollments", pk=sequence.pk)


@login_required
@require_POST
def enrollment_replied(request, pk: int, enrollment_pk: int):
    """"They replied" on the lead's page: the latest e-mail the enrolment sent is marked replied (the reply came
    by phone, or to a mailbox that is not piped to the inbound-e-mail API); the sequence exits when it says so."""
    from ..models import EmailMessage
    from .inbound import mark_replied

    _require_view(request.user)
    sequence = _get_or_404(selectors.sequence_get, user=request.user, pk=pk)
    message = (EmailMessage.objects.filter(enrollment_id=enrollment_pk, enrollment__sequence=sequence,
                                           sent_at__isnull=False).order_by("-sent_at", "-id").first())
    if message is None:
        raise Http404(_("This enrolment has sent no e-mail yet."))
    try:
        message = mark_replied(message=message, actor=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    messages.success(request, _("Marked as a reply to “%(subject)s”.") % {"subject": message.subject})
    return _back_to_lead(message.lead_id)

