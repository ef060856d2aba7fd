"""Forms of the document pages: sending a quote, editing the quote template, the company profile.
They parse input; the services (`services.sending`, `pdf`) validate the rules and save."""
from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from l2c.core.models import CompanyProfile

from .pdf import LOGO_MAX_BYTES


class QuoteSendForm(forms.Form):
    to = forms.EmailField(label=_("To"), max_length=254)
    cc = forms.CharField(label=_("Cc"), required=False, max_length=2000,
                         help_text=_("Further addresses, separated by commas."))
    message = forms.CharField(label=_("Personal message"), required=False, max_length=5000,
                              widget=forms.Textarea(attrs={"rows": 6}))

    def cc_list(self) -> list[str]:
        raw = self.cleaned_data.get("cc") or ""
        return [part.strip() for part in raw.replace(";", ",").split(",") if part.strip()]


class DocumentTemplateForm(forms.Form):
    name = forms.CharField(label=_("Name"), required=False, max_length=120,
                           help_text=_("A label for this version, e.g. “With bank details”."))
    html = forms.CharField(label=_("HTML (Django template language)"), strip=False,
                           widget=forms.Textarea(attrs={"rows": 28, "spellcheck": "false", "class": "code"}))
    css = forms.CharField(label=_("CSS"), required=False, strip=False,
                          widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false", "class": "code"}))
    preview_quote = forms.IntegerField(label=_("Preview with quote id"), required=False, min_value=1,
                                       help_text=_("Empty: a sample quote with Chinese and English text."))


class CompanyProfileForm(forms.ModelForm):
    logo_file = forms.FileField(label=_("Logo"), required=False,
                                help_text=_("PNG, JPEG or SVG, at most 1 MB."))
    remove_logo = forms.BooleanField(label=_("Remove the logo"), required=False)

    class Meta:
        model = CompanyProfile
        fields = ["name", "legal_name", "address", "country", "tax_id", "email", "phone", "website", "currency"]
        widgets = {"address": forms.Textarea(attrs={"rows": 3})}

    def _post_clean(self):
        pass  # the service validates

    def clean_logo_file(self):
        upload = self.cleaned_data.get("logo_file")
        if upload and upload.size > LOGO_MAX_BYTES:
            raise forms.ValidationError(_("The logo may be at most 1 MB (got %(size)s bytes).") % {"size": upload.size})
        return upload

    def service_values(self) -> dict:
        values = {name: self.cleaned_data[name] for name in self.Meta.fields}
        upload = self.cleaned_data.get("logo_file")
        if upload:
            values["logo"] = upload.read()
        values["remove_logo"] = bool(self.cleaned_data.get("remove_logo"))
        return values
