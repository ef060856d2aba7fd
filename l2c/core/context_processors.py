from django.conf import settings

# Longest matching prefix names the nav entry shown as current.
_NAV_SECTIONS = [
    ("/leads/unassigned/", "unassigned"), ("/leads/duplicates/", "duplicates"), ("/leads/merge", "duplicates"),
    ("/contacts/duplicates/", "duplicates"), ("/contacts/merge", "duplicates"),
    ("/leads/forms", "webforms"), ("/leads/", "leads"), ("/accounts/", "accounts"), ("/contacts/", "contacts"),
    ("/opportunities/", "opportunities"), ("/pipeline/", "pipeline"), ("/activities/", "activities"),
    ("/campaigns/", "campaigns"), ("/settings/assignment/", "assignment"), ("/settings/users/", "users"),
    ("/settings/teams/", "teams"), ("/settings/stages/", "stages"), ("/settings/tokens/", "tokens"),
    ("/products/", "products"), ("/price-books/", "products"), ("/quotes/", "quotes"), ("/approvals/", "approvals"),
    ("/contracts/", "contracts"), ("/settings/tax-rates/", "tax_rates"), ("/settings/approval-rules/", "approval_rules"),
    ("/settings/templates/", "templates"), ("/settings/company/", "company"),
    ("/orders/", "orders"), ("/billing/", "billing"), ("/invoices/", "invoices"), ("/payments/", "payments"),
    ("/reports/ar-aging/", "ar-aging"), ("/ledger/", "ledger"),
]
_NAV_SECTIONS.sort(key=lambda item: len(item[0]), reverse=True)


def nav_section(path: str) -> str:
    if path == "/":
        return "home"
    for prefix, section in _NAV_SECTIONS:
        if path.startswith(prefix):
            return section
    return ""


def l2c(request):
    return {"L2C_VERSION": "0.1.0", "DEBUG": settings.DEBUG, "nav": nav_section(request.path)}
