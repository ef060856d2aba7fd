"""Admin edits go through the services: validated, audited; status stays read-only."""
from django.test import Client

from l2c.core.models import AuditEvent
from l2c.customers.models import Account

from .factories import LeadFactory


def test_admin_saves_through_services(admin_user):
    client = Client()
    client.force_login(admin_user)

    bad = client.post("/admin/customers/account/add/", {"name": "Acme", "country": "QQ", "contacts-TOTAL_FORMS": 0,
                                                         "contacts-INITIAL_FORMS": 0})
    assert bad.status_code == 200 and "ISO 3166" in bad.content.decode()
    assert Account.objects.count() == 0

    ok = client.post("/admin/customers/account/add/", {"name": "Acme", "country": "CN", "contacts-TOTAL_FORMS": 0,
                                                        "contacts-INITIAL_FORMS": 0})
    assert ok.status_code == 302
    account = Account.objects.get()
    assert AuditEvent.objects.filter(object_type="customers.account", object_id=str(account.pk)).count() == 1


def test_admin_lead_status_is_read_only(admin_user):
    lead = LeadFactory(owner=admin_user)
    client = Client()
    client.force_login(admin_user)
    page = client.get(f"/admin/leads/lead/{lead.pk}/change/").content.decode()
    assert 'name="status"' not in page
    response = client.post(f"/admin/leads/lead/{lead.pk}/change/", {
        "last_name": "Changed", "source": "web_form", "status": "qualified", "owner": admin_user.pk,
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    lead.refresh_from_db()
    assert (lead.last_name, lead.status) == ("Changed", "new")
    assert AuditEvent.objects.filter(object_type="leads.lead", action="update").count() == 1
