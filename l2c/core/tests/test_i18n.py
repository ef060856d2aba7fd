"""The UI in Simplified Chinese: pages follow the language cookie / Accept-Language, the switcher goes back
to English, and the translation catalogue is complete, compiled and up to date.

The catalogue is read with a small parser of its own (no polib): `msgctxt`, `msgid`, `msgid_plural`,
`msgstr`, `msgstr[n]`, flags and obsolete entries are all this project's .po uses."""
from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

import l2c

ZH = "zh-hans"
LOCALE_DIR = Path(l2c.__file__).resolve().parent / "locale" / "zh_Hans" / "LC_MESSAGES"
PO_FILE = LOCALE_DIR / "django.po"
MO_FILE = LOCALE_DIR / "django.mo"
TEMPLATE_ROOT = Path(l2c.__file__).resolve().parent


# --- a tiny .po reader ---------------------------------------------------------------------------------

def read_po(path: Path) -> list[dict]:
    """Entries as dicts: ctx, id, plural, str (or strs for plurals), flags, obsolete, line."""
    entries: list[dict] = []
    entry: dict | None = None
    key: str | None = None

    def new(line_no):
        return {"ctx": None, "id": None, "plural": None, "str": None, "strs": {}, "flags": set(),
                "obsolete": False, "line": line_no}

    for line_no, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            if entry is not None:
                entries.append(entry)
            entry, key = None, None
            continue
        if entry is None:
            entry = new(line_no)
        if line.startswith("#~"):
            entry["obsolete"] = True
            continue
        if line.startswith("#,"):
            entry["flags"].update(flag.strip() for flag in line[2:].split(","))
            continue
        if line.startswith("#"):
            continue
        match = re.match(r'^(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])?\s+(".*")$', line)
        if match:
            keyword, index, literal = match.groups()
            value = ast.literal_eval(literal)
            if index is not None:
                key = f"strs:{index}"
                entry["strs"][int(index)] = value
            else:
                key = {"msgctxt": "ctx", "msgid": "id", "msgid_plural": "plural", "msgstr": "str"}[keyword]
                entry[key] = value
        elif line.startswith('"') and key is not None:
            value = ast.literal_eval(line)
            if key.startswith("strs:"):
                entry["strs"][int(key[5:])] += value
            else:
                entry[key] += value
        else:
            raise AssertionError(f"{path}:{line_no}: cannot read {raw!r}")
    if entry is not None:
        entries.append(entry)
    return entries


PLACEHOLDER = re.compile(r"%(?:\([A-Za-z_]+\))?[-#0 +]*\d*(?:\.\d+)?[sdrfi%]")


@pytest.fixture(scope="module")
def po_entries():
    assert PO_FILE.exists(), f"{PO_FILE} is missing: run makemessages -l zh_Hans in l2c/"
    return read_po(PO_FILE)


def test_the_catalogue_has_no_untranslated_fuzzy_or_obsolete_entries(po_entries):
    header, messages = po_entries[0], po_entries[1:]
    assert header["id"] == "" and "fuzzy" not in header["flags"]
    assert "Plural-Forms: nplurals=1; plural=0;" in header["str"]
    assert "Language: zh_Hans" in header["str"]
    assert len(messages) > 500  # the whole UI, not a sample

    problems = []
    for e in messages:
        where = f"line {e['line']} {e['id']!r}"
        if e["obsolete"]:
            problems.append(f"{where}: obsolete (#~)")
        if "fuzzy" in e["flags"]:
            problems.append(f"{where}: fuzzy")
        translations = list(e["strs"].values()) if e["plural"] is not None else [e["str"]]
        if e["plural"] is not None and sorted(e["strs"]) != [0]:
            problems.append(f"{where}: Chinese has one plural form, got msgstr{sorted(e['strs'])}")
        for text in translations:
            if not text:
                problems.append(f"{where}: untranslated")
            elif "python-format" in e["flags"] and set(PLACEHOLDER.findall(text)) != set(
                    PLACEHOLDER.findall(e["id"]) + PLACEHOLDER.findall(e["plural"] or "")):
                problems.append(f"{where}: placeholders differ in {text!r}")
    assert not problems, "\n".join(problems)


def test_the_compiled_catalogue_is_in_the_tree_and_matches_the_po(po_entries):
    # The .mo ships with the code (no gettext tools at run time) and must not be ignored by git.
    assert MO_FILE.exists(), "run compilemessages in l2c/ and commit django.mo"
    gitignore = Path(settings.BASE_DIR).parent / ".gitignore"
    if gitignore.exists():
        patterns = [p.strip() for p in gitignore.read_text().splitlines() if p.strip() and not p.startswith("#")]
        assert not any(p in ("*.mo", "django.mo", "locale/", "l2c/locale/") for p in patterns), patterns

    with MO_FILE.open("rb") as fh:
        compiled = gettext.GNUTranslations(fh)
    stale = []
    for e in po_entries[1:]:
        if e["plural"] is not None:
            got = (compiled.npgettext(e["ctx"], e["id"], e["plural"], 1) if e["ctx"]
                   else compiled.ngettext(e["id"], e["plural"], 1))
            want = e["strs"][0]
        else:
            got = compiled.pgettext(e["ctx"], e["id"]) if e["ctx"] else compiled.gettext(e["id"])
            want = e["str"]
        if got != want:
            stale.append(f"{e['id']!r}: .mo has {got!r}, .po has {want!r}")
    assert not stale, "django.mo is out of date; run compilemessages:\n" + "\n".join(stale[:20])


# --- every template string goes through the translation tags -------------------------------------------

# Text that is deliberately not translated: language autonyms on the log-in page and the UTM parameter
# names (a technical notation that marketers use as is in every language).
NOT_TRANSLATED = {"English", "EN", "UTM", "source=", "medium=", "campaign=", "term=", "content="}
TEXT_ATTRIBUTES = re.compile(r'\b(placeholder|title|aria-label|alt|data-confirm|data-error-text)="([^"]*)"')


def _untranslated_literals(source: str) -> list[str]:
    text = re.sub(r"{#.*?#}", "", source, flags=re.S)
    text = re.sub(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}", "", text, flags=re.S)
    text = re.sub(r"{%\s*blocktrans(?:late)?\b.*?{%\s*endblocktrans(?:late)?\s*%}", "", text, flags=re.S)
    text = re.sub(r"<(script|style|code)\b.*?</\1>", "", text, flags=re.S)  # code: names, not words
    found = []
    for name, value in TEXT_ATTRIBUTES.findall(text):
        literal = re.sub(r"{%.*?%}|{{.*?}}", "", value).strip()
        if re.search(r"[A-Za-z]{2,}", literal):
            found.append(f'{name}="{value}"')
    for chunk in re.split(r"<[^>]*>|{%.*?%}|{{.*?}}", text, flags=re.S):
        literal = chunk.strip()
        if re.search(r"[A-Za-z]{2,}", literal) and literal not in NOT_TRANSLATED:
            found.append(literal)
    return found


def test_templates_have_no_untranslated_text():
    templates = sorted(p for p in TEMPLATE_ROOT.glob("**/templates/**/*.html"))
    assert len(templates) > 30
    found = {str(p.relative_to(TEMPLATE_ROOT)): _untranslated_literals(p.read_text(encoding="utf-8"))
             for p in templates}
    assert not {k: v for k, v in found.items() if v}


def test_the_template_check_catches_a_bare_literal():
    assert _untranslated_literals('<h1>Leads</h1><input placeholder="Search…">') == \
        ['placeholder="Search…"', "Leads"]
    assert _untranslated_literals('<h1>{% translate "Leads" %}</h1>{% blocktranslate %}Hi {{ x }}'
                                  "{% endblocktranslate %}") == []


# --- pages in Chinese ----------------------------------------------------------------------------------

def zh_client(user=None, *, cookie=True) -> Client:
    """A browser that asks for Chinese: Accept-Language, and the language cookie unless cookie=False."""
    client = Client(HTTP_ACCEPT_LANGUAGE=ZH)
    if cookie:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = ZH
    if user is not None:
        client.force_login(user)
    return client


def page_text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.mark.parametrize("cookie", [True, False], ids=["language cookie", "Accept-Language only"])
def test_login_page_in_chinese(db, cookie):
    html = page_text(zh_client(cookie=cookie).get("/login/"))
    assert '<html lang="zh-hans">' in html
    for text in ("登录 L2C", "从线索到回款，一站式管理。", "用户名", "密码"):
        assert text in html
    assert "User name" not in html and "Log in to L2C" not in html


def test_leads_list_in_chinese(rep):
    from l2c.leads.tests.factories import LeadFactory

    LeadFactory(owner=rep, first_name="Wei", last_name="Zhang", company="Acme Shanghai")
    html = page_text(zh_client(rep).get("/leads/"))
    for text in ("<h1>线索</h1>", "新建线索", "尚未认定、可能购买的潜在客户。", "姓名", "负责人", "网页表单",
                 '<span class="badge badge-new">新建</span>', "退出登录", "Acme Shanghai"):
        assert text in html, text
    assert "New lead" not in html and "Log out" not in html


def test_lead_detail_in_chinese(rep):
    from l2c.leads import services

    lead = services.lead_create(actor=rep, first_name="Wei", last_name="Zhang", company="Acme Shanghai",
                                source="referral")
    html = page_text(zh_client(rep).get(f"/leads/{lead.pk}/"))
    for text in ("个人信息", "来源与同意", "转介绍", "标记为“跟进中”", "判定为不合格", "历史记录", "创建", "活动"):
        assert text in html, text
    assert "Origin and consent" not in html and "History" not in html


def test_opportunity_board_in_chinese(rep):
    from l2c.pipeline.tests.factories import OpportunityFactory

    OpportunityFactory(owner=rep, name="Rollout 200 seats")
    html = page_text(zh_client(rep).get("/pipeline/"))
    for text in ("将卡片拖到其他阶段即可移动", "搜索商机…", "列表", "移动失败，卡片已回到原来的列。", "需填写",
                 "Rollout 200 seats"):
        assert text in html, text
    assert "Drag a card" not in html


def test_settings_labels_built_at_import_time_follow_the_language(admin_user):
    # The stage form's "fields required to enter" and the role names are lazy, so they follow the request.
    stage_form = page_text(zh_client(admin_user).get("/settings/stages/new/"))
    assert "预计成交日期" in stage_form and "Expected close date" not in stage_form
    users = page_text(zh_client(admin_user).get("/settings/users/"))
    assert "管理员" in users


def test_switching_back_to_english(rep):
    client = zh_client(rep)
    assert "新建线索" in page_text(client.get("/leads/"))

    # when the user picks English in the switcher
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/leads/"})

    # then the cookie says English and the pages are English again, even with a Chinese Accept-Language
    assert response.status_code == 302 and response.url == "/leads/"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    html = page_text(client.get("/leads/"))
    assert '<html lang="en">' in html and "New lead" in html and "新建线索" not in html


def test_switching_to_chinese_from_the_login_page(db):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert "Log in to L2C" in page_text(client.get("/login/"))
    response = client.post("/i18n/setlang/", {"language": ZH, "next": "/login/"})
    assert response.status_code == 302
    assert "登录 L2C" in page_text(client.get("/login/"))


# --- in a real browser -----------------------------------------------------------------------------------

@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_chinese_in_the_browser_from_the_login_switcher_and_back(page, rep):
    from playwright.sync_api import expect

    from l2c.pipeline.tests.factories import OpportunityFactory

    OpportunityFactory(owner=rep, name="Rollout 200 seats")
    # given the log-in page in English, when the user picks 简体中文 and logs in
    page.goto("/login/")
    page.click("text=简体中文")
    expect(page.locator("h1")).to_have_text("登录 L2C")
    page.fill("#id_username", "rep")
    page.fill("#id_password", "pw-rep")
    page.click("button[type=submit].btn-primary")
    page.wait_for_url(lambda url: "/login/" not in url)

    # then the pages are Chinese and the longer or shorter labels do not push the layout sideways
    expect(page.locator(".sidebar")).to_contain_text("销售管道看板")
    for path, heading in (("/pipeline/", "销售管道看板"), ("/leads/", "线索")):
        page.goto(path)
        expect(page.locator("h1")).to_have_text(heading)
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), path

    # when the user switches back to English in the sidebar
    page.select_option(".lang-form select[name=language]", "en")
    expect(page.locator("h1")).to_have_text("Leads")
    expect(page.locator(".sidebar")).to_contain_text("Pipeline board")
