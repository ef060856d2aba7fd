"""API routes for quote documents: POST /quotes/{id}/send and GET /quotes/{id}/pdf."""

import datetime as dt

from django.http import HttpResponse
from ninja import Field, Router, Schema

from l2c.core.api_types import RecordId
from l2c.customers.api import StrictSchema

from . import pdf, portal_links
from . import selectors as quote_selectors
from .services import sending

router = Router(tags=["quotes"])


class SendIn(StrictSchema):
    to: str = Field(..., max_length=254, description="The customer's e-mail address")
    cc: list[str] = Field(default_factory=list, max_length=sending.MAX_CC, description="Copies")
    message: str = Field("", max_length=sending.MAX_MESSAGE, description="A personal message for the e-mail")


class SentQuoteOut(Schema):
    id: int
    number: str
    version: int
    status: str
    sent_at: dt.datetime | None
    sent_pdf_sha256: str


class PortalLinkOut(Schema):
    id: int
    token_prefix: str
    email: str
    created_at: dt.datetime
    expires_at: dt.datetime
    state: str


class SendOut(Schema):
    quote: SentQuoteOut
    link: PortalLinkOut
    portal_url: str = Field(..., description="The customer's link; returned once, never stored")


@router.post("/quotes/{int:quote_id}/send", response=SendOut)
def send_quote(request, quote_id: RecordId, data: SendIn):
    """E-mail the quote (PDF attached, a new portal link) to `to`; a resend keeps the PDF already sent.
    Refused (409) with the reasons when the quote is not approved or sent; 502 when the mail server fails."""
    quote = quote_selectors.quote_get(request.auth, quote_id)
    link = sending.quote_send(actor=request.auth, quote=quote, to_email=data.to, cc=data.cc, message=data.message)
    quote = quote_selectors.quote_get(request.auth, quote_id)
    return {
        "quote": quote,
        "link": {"id": link.pk, "token_prefix": link.token_prefix, "email": link.email, "created_at": link.created_at,
                 "expires_at": link.expires_at, "state": portal_links.link_state(link)},
        "portal_url": portal_links.portal_url(link.token),
    }


@router.get("/quotes/{int:quote_id}/pdf",
            openapi_extra={"responses": {200: {"description": "The quote PDF (as sent, once sent)",
                                               "content": {"application/pdf": {}}}}})
def get_quote_pdf(request, quote_id: RecordId):
    """The quote as a PDF: exactly as the customer received it once sent, otherwise rendered now."""
    quote = quote_selectors.quote_get(request.auth, quote_id)
    response = HttpResponse(pdf.quote_pdf_bytes(quote), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{pdf.pdf_filename(quote)}"'
    return response
