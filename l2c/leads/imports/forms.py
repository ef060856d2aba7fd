"""Forms of the import pages: they parse; the services validate and save."""
from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from l2c.core.validation import assignable_owners

from ..choices import ImportMode, LeadSource, OnDuplicate
from ..models import Campaign

ENCODING_CHOICES = [
    ("", _("Detect automatically")),
    ("utf-8", "UTF-8"),
    ("utf-8-sig", _("UTF-8 with BOM")),
    ("gb18030", _("GB18030 / GBK (Chinese Excel)")),
    ("big5", _("Big5 (Traditional Chinese)")),
    ("shift_jis", "Shift JIS"),
    ("cp1252", _("Windows-1252 (Western Excel)")),
    ("latin-1", "ISO-8859-1"),
    ("utf-16", "UTF-16"),
]
DELIMITER_CHOICES = [
    ("", _("Detect automatically")),
    (",", _("Comma ( , )")),
    (";", _("Semicolon ( ; )")),
    ("\t", _("Tab")),
    ("|", _("Vertical bar ( | )")),
]


class ImportOptionsForm(forms.Form):
    """What to do with duplicates and invalid rows, and values every imported lead gets."""

    on_duplicate = forms.ChoiceField(label=_("When a lead already exists"), choices=OnDuplicate.choices,
                                     initial=OnDuplicate.SKIP)
    mode = forms.ChoiceField(label=_("When some rows are invalid"), choices=ImportMode.choices,
                             initial=ImportMode.VALID_ROWS, widget=forms.RadioSelect)
    dry_run = forms.BooleanField(label=_("Dry run: check the file and report, write nothing"), required=False)
    default_region = forms.CharField(label=_("Default phone region"), required=False, max_length=2,
                                     help_text=_("ISO country code for numbers without +country prefix, e.g. CN. "
                                                 "Empty: the row's country, else the site default."),
                                     widget=forms.TextInput(attrs={"placeholder": "CN", "class": "input-code"}))
    default_owner = forms.ModelChoiceField(label=_("Owner of the new leads"), required=False, queryset=None)
    default_campaign = forms.ModelChoiceField(label=_("Campaign"), required=False, queryset=None,
                                              empty_label=_("— none —"))
    default_source = forms.ChoiceField(label=_("Source"), required=False, choices=LeadSource.choices,
                                       initial=LeadSource.IMPORT)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["default_owner"].queryset = assignable_owners(user)
        self.fields["default_owner"].empty_label = _("— me —")
        self.fields["default_campaign"].queryset = Campaign.objects.restrict(user).order_by("name")

    def option_values(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in
                ("on_duplicate", "mode", "dry_run", "default_region", "default_owner", "default_campaign",
                 "default_source")}


class ImportUploadForm(ImportOptionsForm):
    file = forms.FileField(label=_("CSV or Excel file"), allow_empty_file=True,
                           help_text=_("CSV (UTF-8, GBK/GB18030; comma, semicolon or tab) or XLSX; the first row "
                                       "holds the column names."),
                           widget=forms.ClearableFileInput(attrs={"accept": ".csv,.tsv,.txt,.xlsx"}))
    encoding = forms.ChoiceField(label=_("Encoding"), required=False, choices=ENCODING_CHOICES)
    delimiter = forms.ChoiceField(label=_("Delimiter"), required=False, choices=DELIMITER_CHOICES)

    field_order = ["file", "on_duplicate", "mode", "dry_run", "default_owner", "default_campaign", "default_source",
                   "default_region", "encoding", "delimiter"]


class ResniffForm(forms.Form):
    encoding = forms.ChoiceField(label=_("Encoding"), required=False, choices=ENCODING_CHOICES)
    delimiter = forms.ChoiceField(label=_("Delimiter"), required=False, choices=DELIMITER_CHOICES)


class MappingForm(ImportOptionsForm):
    """One select per column of the file (`col_<n>`), pre-filled with the job's mapping, plus the options."""

    def __init__(self, *args, job, fields: dict[str, str], **kwargs):
        kwargs.setdefault("initial", {})
        initial = kwargs["initial"]
        for name in ("on_duplicate", "mode", "dry_run", "default_region"):
            initial.setdefault(name, getattr(job, name))
        defaults = job.defaults or {}
        initial.setdefault("default_owner", defaults.get("owner"))
        initial.setdefault("default_campaign", defaults.get("campaign"))
        initial.setdefault("default_source", defaults.get("source", LeadSource.IMPORT))
        super().__init__(*args, **kwargs)
        self.job = job
        choices = [("", _("— ignore this column —")), *fields.items()]
        self.columns = []
        for index, header in enumerate(job.headers):
            name = f"col_{index}"
            self.fields[name] = forms.ChoiceField(label=header or _("(no name)"), required=False, choices=choices,
                                                  initial=job.mapping.get(header, ""))
            self.columns.append((index, header, name))

    def mapping(self) -> dict[str, str]:
        return {header: self.cleaned_data.get(name) or "" for _index, header, name in self.columns}

    def column_rows(self, preview: list[list]) -> list[dict]:
        """For the template: each column with its select and its first values."""
        rows = []
        for index, header, name in self.columns:
            samples = [r[index] if index < len(r) else "" for r in preview]
            rows.append({"header": header, "field": self[name], "samples": samples})
        return rows
