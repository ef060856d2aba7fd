import pytest


@pytest.fixture(autouse=True)
def company_in_cny(db):
    """The books are kept in CNY in these tests; USD and EUR are foreign currencies."""
    from l2c.core.models import CompanyProfile

    profile = CompanyProfile.get()
    profile.currency = "CNY"
    profile.save()
    return profile
