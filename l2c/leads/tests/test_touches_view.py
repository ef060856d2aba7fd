"""A lead's page lists its touches (form fills, imports, API captures), newest first."""
from django.utils import timezone

from l2c.leads.choices import TouchKind
from l2c.leads.models import Lead, Touch


def test_lead_page_lists_touches(client, rep):
    # given a lead with two touches
    lead = Lead.objects.create(last_name="Doe", owner=rep)
    Touch.objects.create(lead=lead, kind=TouchKind.IMPORT, occurred_at=timezone.now() - timezone.timedelta(days=1))
    Touch.objects.create(lead=lead, kind=TouchKind.FORM_SUBMISSION, occurred_at=timezone.now(),
                         utm_source="newsletter<script>", utm_campaign="spring")
    client.force_login(rep)
    # when the owner opens the lead
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    # then both touches show, newest first, with the UTM values escaped
    assert "Touches" in html
    assert html.index("Form submission") < html.index("Import</strong>")
    assert "newsletter&lt;script&gt;" in html and "newsletter<script>" not in html
