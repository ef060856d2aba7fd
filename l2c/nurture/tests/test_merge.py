"""Merge fields: checked at save time (line and name), rendered escaped in HTML and raw in text."""
from __future__ import annotations

import pytest

from l2c.core.errors import ValidationFailed
from l2c.nurture import merge, services

pytestmark = pytest.mark.django_db


def _errors(exc_info):
    return {e.field: e.message for e in exc_info.value.errors}


def test_missing_values_render_empty_or_their_default(template, make_lead):
    lead = make_lead(first_name="", company="")
    rendered = services.template_render(template=template, lead=lead)
    assert rendered.subject == "Hi"
    assert "<p>Hello there,</p>" in rendered.html
    named = services.template_render(template=template, lead=make_lead(first_name="Ann"))
    assert named.subject == "Hi Ann" and "<p>Hello Ann,</p>" in named.html


def test_a_field_without_its_record_renders_empty():
    rendered = merge.render_all(subject="{{ contact.first_name }}!", html="<b>{{ owner.name }}</b>", text="",
                                context={}, language="en")
    assert rendered.subject == "!" and rendered.html == "<b></b>"


def test_html_is_escaped_and_text_is_raw(template, make_lead):
    lead = make_lead(first_name="<script>alert(1)</script>")
    rendered = services.template_render(template=template, lead=lead)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "<script>" not in rendered.html
    assert "Hello <script>alert(1)</script>," in rendered.text
    assert rendered.subject == "Hi <script>alert(1)</script>"


def test_unknown_merge_field_is_refused_with_its_name_and_line(manager):
    with pytest.raises(ValidationFailed) as exc_info:
        services.template_create(actor=manager, name="Bad", versions=[
            {"language": "en", "subject": "Hi", "html": "<p>Hi</p>\n<p>{{ lead.password }}</p>"}])
    errors = _errors(exc_info)
    assert list(errors) == ["versions[0].html"]
    assert "Line 2" in errors["versions[0].html"] and "lead.password" in errors["versions[0].html"]


@pytest.mark.parametrize("source, tag", [('{% load static %}<p>x</p>', "load"),
                                         ('<p>x</p>\n{% include "base.html" %}', "include"),
                                         ("{% if lead.email %}x{% endif %}", "if")])
def test_template_tags_are_refused(manager, source, tag):
    with pytest.raises(ValidationFailed) as exc_info:
        services.template_create(actor=manager, name="Tags", versions=[
            {"language": "en", "subject": "Hi", "html": source}])
    message = _errors(exc_info)["versions[0].html"]
    assert f"{{% {tag} %}}" in message and "not allowed" in message


def test_other_filters_are_refused():
    assert merge.check("{{ lead.email|upper }}", field="html")[0].code == "template_syntax"
    assert merge.check('{{ lead.email|default:"x" }}', field="html") == []


def test_chinese_version_for_a_chinese_lead_and_english_fallback(template, make_lead, manager):
    chinese = make_lead(first_name="娜", last_name="李", country="CN")
    rendered = services.template_render(template=template, lead=chinese)
    assert rendered.language == "zh-hans" and rendered.subject == "李娜，您好" and "您好 娜" in rendered.html
    english_only = services.template_create(actor=manager, name="English only", versions=[
        {"language": "en", "subject": "Hello {{ lead.first_name }}", "html": "<p>x</p>"}])
    fallback = services.template_render(template=english_only, lead=chinese)
    assert fallback.language == "en" and fallback.subject == "Hello 娜"
    assert services.template_render(template=template, lead=make_lead(country="US")).language == "en"
    # the lead's own language wins over its country
    assert services.template_render(template=template, lead=make_lead(country="US", language="zh-hans")).language \
        == "zh-hans"
    assert services.template_render(template=template, lead=make_lead(country="CN", language="en")).language == "en"


def test_text_derived_from_html_keeps_link_urls(template, make_lead):
    rendered = services.template_render(template=template, lead=make_lead(first_name="Ann"))
    assert rendered.text == "Hello Ann,\n\nSee our offer (https://example.com/offer)."


def test_a_given_text_body_wins(manager, make_lead):
    template = services.template_create(actor=manager, name="Texted", versions=[
        {"language": "en", "subject": "S", "html": "<p>HTML</p>", "text": "Plain {{ lead.email }}"}])
    assert services.template_render(template=template, lead=make_lead()).text == "Plain jane@example.com"


def test_owner_and_company_fields(manager, rep, make_lead):
    from l2c.core.models import CompanyProfile

    CompanyProfile.objects.update_or_create(pk=1, defaults={"name": "Acme Ltd"})
    rep.email = "rep@acme.test"
    rep.save()
    template = services.template_create(actor=manager, name="Sig", versions=[
        {"language": "en", "subject": "S", "html": "{{ owner.name }} <{{ owner.email }}>, {{ company.name }}"}])
    rendered = services.template_render(template=template, lead=make_lead())
    assert rendered.html == "Rep <rep@acme.test>, Acme Ltd"  # the angle brackets are the template's own


def test_english_version_is_required_and_empty_subject_refused(manager):
    with pytest.raises(ValidationFailed) as exc_info:
        services.template_create(actor=manager, name="Zh", versions=[
            {"language": "zh-hans", "subject": " ", "html": "<p>x</p>"}])
    assert set(_errors(exc_info)) == {"versions[0].subject", "versions"}


def test_update_replaces_a_language_and_audits(template, manager):
    from l2c.core.models import AuditEvent

    services.template_update(actor=manager, template=template, versions=[
        {"language": "zh-hans", "subject": "新", "html": "<p>新</p>", "text": ""}])
    assert template.versions.get(language="zh-hans").subject == "新"
    assert template.versions.get(language="en").subject == "Hi {{ lead.first_name }}"
    event = AuditEvent.objects.filter(action="update").order_by("-id").first()
    assert event.changes["zh-hans.subject"][1] == "新"


def test_rep_cannot_write_templates(rep, template):
    from l2c.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.template_update(actor=rep, template=template, name="Mine")
    with pytest.raises(PermissionDenied):
        services.template_create(actor=rep, name="x", versions=[{"language": "en", "subject": "s", "html": "h"}])
