"""Portal forms parse what the browser sends; the contract services check every rule (so that a refused
attempt is audited in one place)."""
from __future__ import annotations

import base64
import binascii

from django import forms
from django.utils.translation import gettext_lazy as _

from l2c.contracts.services import MAX_NAME, MAX_REASON, MAX_TITLE

DATA_URL_PREFIX = "data:image/png;base64,"


def decode_png_data_url(value: str) -> bytes:
    """The bytes of a `data:image/png;base64,…` URL; anything else is returned so the service refuses it
    as "not a PNG" (an empty value stays empty: "draw your signature")."""
    value = (value or "").strip()
    if not value:
        return b""
    if not value.startswith(DATA_URL_PREFIX):
        return b"not-a-png"
    try:
        return base64.b64decode(value[len(DATA_URL_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        return b"not-a-png"


class SignForm(forms.Form):
    consent = forms.BooleanField(label=_("I agree"), required=False)
    signer_name = forms.CharField(label=_("Your full name"), required=False)
    signer_title = forms.CharField(label=_("Your title (optional)"), required=False)
    signer_email = forms.CharField(label=_("Your e-mail (optional, for a signed copy)"), required=False)
    drawn_signature = forms.CharField(required=False, widget=forms.HiddenInput)
    shown_pdf_sha256 = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # No length limits that would refuse here: every rule is the service's, which audits a refusal.
        # The browser gets the limits as attributes.
        self.fields["signer_name"].widget.attrs.update({"maxlength": MAX_NAME, "autocomplete": "name"})
        self.fields["signer_title"].widget.attrs.update({"maxlength": MAX_TITLE})
        self.fields["signer_email"].widget.attrs.update({"type": "email", "autocomplete": "email", "maxlength": 254})

    def signature_bytes(self) -> bytes:
        return decode_png_data_url(self.cleaned_data.get("drawn_signature", ""))


class DeclineForm(forms.Form):
    reason = forms.CharField(label=_("Why do you decline?"), required=False,
                             widget=forms.Textarea(attrs={"rows": 5, "maxlength": MAX_REASON}))
