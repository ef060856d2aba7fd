import pytest

from l2c.nurture import services

HTML = '<p>Hello {{ lead.first_name|default:"there" }},</p><p>See <a href="https://example.com/offer">our offer</a>.</p>'


@pytest.fixture
def template(manager):
    return services.template_create(actor=manager, name="Welcome", versions=[
        {"language": "en", "subject": "Hi {{ lead.first_name }}", "html": HTML, "text": ""},
        {"language": "zh-hans", "subject": "{{ lead.last_name }}{{ lead.first_name }}，您好",
         "html": "<p>您好 {{ lead.first_name }}</p>", "text": ""}])


@pytest.fixture
def make_lead(rep):
    from l2c.leads.models import Lead

    def make(**fields):
        values = {"first_name": "Jane", "last_name": "Doe", "email": "jane@example.com", "owner": rep, **fields}
        return Lead.objects.create(**values)

    return make
