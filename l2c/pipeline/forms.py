"""Forms of the pipeline UI. They parse and render; the services decide (visibility, stage rules)."""
from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from l2c.core.money import COMMON_CURRENCIES

from .choices import STAGE_REQUIRABLE_FIELDS, ActivityKind, ForecastCategory
from .models import Activity, Opportunity, Stage

CHOICE_LIMIT = 500  # a select stays usable; the service still accepts any visible id


def apply_errors(form: forms.Form, exc) -> None:
    """Show a DomainError's field errors beside the fields (the rest above the form)."""
    errors = exc.errors or []
    if not errors:
        form.add_error(None, exc.message)
    for error in errors:
        field = error.field if error.field in form.fields else None
        if field is None and error.field and error.field.endswith("_id") and error.field[:-3] in form.fields:
            field = error.field[:-3]
        message = error.message if field or not error.field or error.field == "__all__" \
            else f"{error.field}: {error.message}"
        if field and field in form.errors and message in form.errors[field]:
            continue
        form.add_error(field, message)


def _currency_choices(current: str | None = None):
    codes = list(dict.fromkeys([settings.L2C_COMPANY_CURRENCY, *COMMON_CURRENCIES]))
    if current and current not in codes:
        codes.append(current)
    return [(c, c) for c in codes]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


def _len(model, name):
    return model._meta.get_field(name).max_length


class OpportunityForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=_len(Opportunity, "name"))
    account = forms.TypedChoiceField(label=_("Account"), coerce=int)
    contact = forms.TypedChoiceField(label=_("Contact"), coerce=int, required=False, empty_value=None)
    owner = forms.TypedChoiceField(label=_("Owner"), coerce=int, required=False, empty_value=None)
    stage = forms.TypedChoiceField(label=_("Stage"), coerce=int, required=False, empty_value=None)
    amount = forms.DecimalField(label=_("Amount"), required=False, min_value=0, max_digits=20, decimal_places=2)
    currency = forms.ChoiceField(label=_("Currency"))
    expected_close_date = forms.DateField(label=_("Expected close date"), required=False, widget=DateInput)
    probability = forms.IntegerField(label=_("Probability %"), required=False, min_value=0, max_value=100,
                                     help_text=_("Leave empty to use the stage's default."))
    forecast_category = forms.ChoiceField(label=_("Forecast category"), required=False)
    next_step = forms.CharField(label=_("Next step"), required=False, max_length=_len(Opportunity, "next_step"))
    budget = forms.CharField(label=_("Budget"), required=False, max_length=_len(Opportunity, "budget"))
    authority = forms.CharField(label=_("Authority"), required=False, max_length=_len(Opportunity, "authority"))
    need = forms.CharField(label=_("Need"), required=False, max_length=_len(Opportunity, "need"))
    timeline = forms.CharField(label=_("Timeline"), required=False, max_length=_len(Opportunity, "timeline"))
    competitor = forms.CharField(label=_("Competitor"), required=False, max_length=_len(Opportunity, "competitor"))
    lost_reason = forms.CharField(label=_("Lost reason"), required=False, max_length=_len(Opportunity, "lost_reason"))
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea)

    def __init__(self, *args, user, opportunity: Opportunity | None = None, **kwargs):
        from l2c.customers.models import Account, Contact

        from .selectors import assignable_owners, stage_list

        super().__init__(*args, **kwargs)
        self.opportunity = opportunity
        account_id = self.data.get("account") or self.initial.get("account") or (opportunity and opportunity.account_id)
        accounts = list(Account.objects.restrict(user).order_by("name").values_list("pk", "name")[:CHOICE_LIMIT])
        if account_id and str(account_id).isdigit() and int(account_id) not in {pk for pk, _n in accounts}:
            extra = Account.objects.restrict(user).filter(pk=account_id).values_list("pk", "name").first()
            if extra:
                accounts.insert(0, extra)
        self.fields["account"].choices = [("", "—")] + accounts
        contacts = Contact.objects.restrict(user).select_related("account").order_by("last_name", "first_name")
        if account_id and str(account_id).isdigit():
            contacts = contacts.filter(account_id=account_id)
        self.fields["contact"].choices = [("", "—")] + [
            (c.pk, f"{c.full_name} ({c.account.name})") for c in contacts[:CHOICE_LIMIT]]
        owners = list(assignable_owners(user=user))
        if opportunity is not None and opportunity.owner_id and opportunity.owner not in owners:
            owners.insert(0, opportunity.owner)
        self.fields["owner"].choices = [(u.pk, str(u)) for u in owners]
        self.fields["currency"].choices = _currency_choices(opportunity.currency if opportunity else None)
        self.fields["forecast_category"].choices = [("", _("Follow the stage"))] + [
            (c.value, c.label) for c in ForecastCategory if c != ForecastCategory.CLOSED]
        if opportunity is None:
            self.fields["stage"].choices = [("", _("First stage"))] + [
                (s.pk, s.name) for s in stage_list(active_only=True) if not s.is_closed]
            self.initial.setdefault("currency", settings.L2C_COMPANY_CURRENCY)
            self.initial.setdefault("owner", user.pk)
            del self.fields["lost_reason"]
        else:
            del self.fields["stage"]
            if not opportunity.stage.is_lost:
                del self.fields["lost_reason"]
            if opportunity.stage.is_closed:
                del self.fields["probability"]
                del self.fields["forecast_category"]

    def service_values(self) -> dict:
        values = dict(self.cleaned_data)
        if values.get("probability") is None:
            values.pop("probability", None)
        if not values.get("forecast_category"):
            values.pop("forecast_category", None)
        if self.opportunity is None and values.get("stage") is None:
            values.pop("stage", None)
        if self.opportunity is not None:
            # send only what changed, so an untouched field never trips a rule
            current = {
                "account": self.opportunity.account_id, "contact": self.opportunity.contact_id,
                "owner": self.opportunity.owner_id,
            }
            values = {k: v for k, v in values.items()
                      if current.get(k, getattr(self.opportunity, k, object())) != v}
        return values


class ActivityForm(forms.Form):
    kind = forms.ChoiceField(label=_("Type"), choices=ActivityKind.choices, initial=ActivityKind.TASK)
    subject = forms.CharField(label=_("Subject"), max_length=_len(Activity, "subject"))
    due_at = forms.DateTimeField(label=_("Due"), required=False, widget=DateTimeInput,
                                 input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"])
    body = forms.CharField(label=_("Details"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    done = forms.BooleanField(label=_("Already done (log it)"), required=False)


class ActivityEditForm(ActivityForm):
    owner = forms.TypedChoiceField(label=_("Assigned to"), coerce=int, required=False, empty_value=None)

    def __init__(self, *args, user, **kwargs):
        from .selectors import assignable_owners

        super().__init__(*args, **kwargs)
        del self.fields["done"]
        self.fields["owner"].choices = [(u.pk, str(u)) for u in assignable_owners(user=user)]


class StageForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=_len(Stage, "name"))
    probability = forms.IntegerField(label=_("Default probability %"), min_value=0, max_value=100)
    expected_days = forms.IntegerField(label=_("Expected days in stage"), min_value=0, required=False,
                                       help_text=_("Deals longer in the stage are flagged as stuck."))
    outcome = forms.ChoiceField(label=_("Outcome"), choices=[("open", _("Open stage")), ("won", _("Won")),
                                                            ("lost", _("Lost"))])
    required_fields = forms.MultipleChoiceField(
        label=_("Fields required to enter"), required=False, widget=forms.CheckboxSelectMultiple,
        choices=[(f, capfirst(Opportunity._meta.get_field(f).verbose_name)) for f in STAGE_REQUIRABLE_FIELDS])
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def service_values(self) -> dict:
        values = dict(self.cleaned_data)
        outcome = values.pop("outcome")
        values["is_won"] = outcome == "won"
        values["is_lost"] = outcome == "lost"
        return values


class ConvertForm(forms.Form):
    account_choice = forms.CharField(required=False)  # an account id, or "new"
    create_account_name = forms.CharField(label=_("New account name"), required=False, max_length=200)
    create_opportunity = forms.BooleanField(label=_("Create an opportunity"), required=False, initial=True)
    opportunity_name = forms.CharField(label=_("Opportunity name"), required=False,
                                       max_length=_len(Opportunity, "name"))
    amount = forms.DecimalField(label=_("Amount"), required=False, min_value=0, max_digits=20, decimal_places=2)
    currency = forms.ChoiceField(label=_("Currency"))
    expected_close_date = forms.DateField(label=_("Expected close date"), required=False, widget=DateInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = _currency_choices()
        self.initial.setdefault("currency", settings.L2C_COMPANY_CURRENCY)
