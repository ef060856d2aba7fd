"""Invoice and statement documents, printed with quoting's offline WeasyPrint pipeline.

The invoice is printed from the active `DocumentTemplate(kind="invoice")` an admin saved, else the shipped
default (`templates/receivables/pdf/default_invoice.html` + `.css`). It is rendered by quoting's restricted
engine (`l2c.quoting.pdf.render_template_html`) with a context of plain values only, like the quote. The
statement is printed from a fixed project template (`receivables/pdf/statement.html`).
"""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation

from l2c.billing.models import Invoice
from l2c.core.models import CompanyProfile
from l2c.quoting.models import DocumentTemplate, PaymentTerms
from l2c.quoting.pdf import company_context, html_to_pdf, render_template_html

DEFAULTS_DIR = Path(__file__).resolve().parent / "templates" / "receivables" / "pdf"
DEFAULT_HTML, DEFAULT_CSS = "default_invoice.html", "default_invoice.css"
# the statement shares its body with the HTML pages, where "num" right-aligns; in print it must not grey out
STATEMENT_CSS = "\n.statement-currency .num { color: inherit; }\n.statement-currency h2 { margin-top: 5mm; }\n"


def default_invoice_template() -> DocumentTemplate:
    """The shipped invoice template as an unsaved row (pk None)."""
    return DocumentTemplate(kind=DocumentTemplate.Kind.INVOICE, name="Default", version=0, active=False,
                            html=(DEFAULTS_DIR / DEFAULT_HTML).read_text(encoding="utf-8"),
                            css=(DEFAULTS_DIR / DEFAULT_CSS).read_text(encoding="utf-8"))


def invoice_template() -> DocumentTemplate:
    """The invoice template in use: the active saved one, else the shipped default."""
    return (DocumentTemplate.objects.filter(kind=DocumentTemplate.Kind.INVOICE, active=True).first()
            or default_invoice_template())


def document_language(account) -> str:
    """Documents for a customer are printed in the language of the customer's owner (else the default)."""
    owner = getattr(account, "owner", None)
    return (getattr(owner, "language", "") or settings.LANGUAGE_CODE) if owner else settings.LANGUAGE_CODE


def customer_context(account) -> dict:
    address = [account.street, " ".join(p for p in (account.postal_code, account.city) if p), account.region,
               account.country]
    return {"name": account.name, "address_lines": [p for p in address if p], "country": account.country,
            "phone": account.phone, "website": account.website}


def _tax_breakdown(lines) -> list[dict]:
    taxes: dict[Decimal, dict] = {}
    for line in lines:
        entry = taxes.setdefault(line.tax_rate, {"rate": line.tax_rate, "net": Decimal(0), "tax": Decimal(0)})
        entry["net"] += line.net_amount
        entry["tax"] += line.tax_amount
    return [taxes[rate] for rate in sorted(taxes)]


def invoice_context(invoice: Invoice, *, company: CompanyProfile | None = None) -> dict:
    """Everything an invoice template may print (documented in docs/receivables.md)."""
    company = company or CompanyProfile.get()
    lines = list(invoice.lines.select_related("product").order_by("position", "id"))
    terms = dict(PaymentTerms.choices)
    return {
        "company": company_context(company),
        "customer": customer_context(invoice.account),
        "invoice": {
            "number": invoice.number or "", "status": invoice.status, "status_display": invoice.get_status_display(),
            "issue_date": invoice.issue_date, "due_date": invoice.due_date, "currency": invoice.currency,
            "payment_terms": str(terms.get(invoice.payment_terms, invoice.payment_terms)),
            "payment_terms_code": invoice.payment_terms, "notes": invoice.notes,
            "contract_number": invoice.contract.number if invoice.contract_id else "",
        },
        "lines": [{
            "number": index, "sku": line.product.sku, "name": line.product.name, "description": line.description,
            "quantity": line.quantity, "unit_price": line.unit_price, "net_amount": line.net_amount,
            "tax_rate": line.tax_rate, "tax_amount": line.tax_amount, "gross_amount": line.gross_amount,
            "service_start": line.service_start, "service_end": line.service_end,
        } for index, line in enumerate(lines, start=1)],
        "totals": {
            "net_total": invoice.net_total, "tax_total": invoice.tax_total, "gross_total": invoice.gross_total,
            "taxes": _tax_breakdown(lines), "amount_paid": invoice.amount_paid,
            "amount_credited": invoice.amount_credited, "amount_written_off": invoice.amount_written_off,
            "balance": invoice.balance,
        },
        "payment_instructions": getattr(settings, "L2C_PAYMENT_INSTRUCTIONS", ""),
        "today": timezone.localdate(),
    }


def render_invoice_html(invoice: Invoice, *, template: DocumentTemplate | None = None) -> str:
    template = template or invoice_template()
    with translation.override(document_language(invoice.account)):
        return render_template_html(template, invoice_context(invoice))


def render_invoice_pdf(invoice: Invoice, *, template: DocumentTemplate | None = None) -> bytes:
    """The invoice as a PDF, in the customer owner's language, from `template` (default: the one in use)."""
    template = template or invoice_template()
    with translation.override(document_language(invoice.account)):
        return html_to_pdf(render_template_html(template, invoice_context(invoice)), template.css)


def invoice_filename(invoice: Invoice) -> str:
    return f"{invoice.number or f'draft-{invoice.pk}'}.pdf"


def render_statement_pdf(statement: dict) -> bytes:
    """A customer statement (see `selectors.statement`) as a PDF."""
    account = statement["account"]
    with translation.override(document_language(account)):
        html = render_to_string("receivables/pdf/statement.html", {
            "statement": statement, "company": company_context(CompanyProfile.get()),
            "customer": customer_context(account)})
        css = (DEFAULTS_DIR / DEFAULT_CSS).read_text(encoding="utf-8") + STATEMENT_CSS
    return html_to_pdf(html, css)


def statement_filename(statement: dict) -> str:
    return f"statement-{statement['account'].pk}-{statement['as_of'].isoformat()}.pdf"
