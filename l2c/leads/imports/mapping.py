"""Which column of the file fills which lead field: header synonyms in English and Chinese, an explicit
mapping that overrides them, and the splitting of a full name into family and given names."""
from __future__ import annotations

import re
import unicodedata

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .parsing import ImportFileError

# Lead fields a column can fill ("full_name" is split into last_name + first_name), with labels for
# the mapping step of the UI.
IMPORT_FIELDS: dict[str, object] = {
    "full_name": gettext_lazy("Full name"),
    "first_name": gettext_lazy("First name"),
    "last_name": gettext_lazy("Last name"),
    "title": gettext_lazy("Job title"),
    "email": gettext_lazy("E-mail"),
    "phone": gettext_lazy("Phone"),
    "company": gettext_lazy("Company"),
    "website": gettext_lazy("Website"),
    "industry": gettext_lazy("Industry"),
    "company_size": gettext_lazy("Company size"),
    "city": gettext_lazy("City"),
    "country": gettext_lazy("Country"),
    "source": gettext_lazy("Source"),
    "description": gettext_lazy("Notes"),
    "utm_source": gettext_lazy("UTM source"),
    "utm_medium": gettext_lazy("UTM medium"),
    "utm_campaign": gettext_lazy("UTM campaign"),
    "utm_term": gettext_lazy("UTM term"),
    "utm_content": gettext_lazy("UTM content"),
}
# A mapping value meaning "do not import this column".
IGNORE = ("", "ignore", "-", "skip")

SYNONYMS: dict[str, tuple[str, ...]] = {
    "full_name": ("name", "full name", "fullname", "contact name", "contact", "person", "lead name",
                  "customer name", "姓名", "全名", "联系人", "联系人姓名", "客户姓名"),
    "first_name": ("first name", "firstname", "first", "given name", "forename", "名", "名字"),
    "last_name": ("last name", "lastname", "last", "surname", "family name", "姓", "姓氏"),
    "email": ("email", "e-mail", "e mail", "mail", "email address", "e-mail address", "work email",
              "business email", "邮箱", "电子邮件", "电子邮箱", "邮件", "邮箱地址", "电邮"),
    "phone": ("phone", "telephone", "tel", "phone number", "telephone number", "mobile", "mobile phone",
              "mobile number", "cell", "cell phone", "cellphone", "电话", "手机", "手机号", "手机号码",
              "电话号码", "联系电话", "移动电话", "联系方式"),
    "company": ("company", "company name", "organisation", "organization", "org", "account", "account name",
                "employer", "business", "公司", "公司名称", "单位", "单位名称", "企业", "企业名称", "工作单位",
                "客户名称"),
    "title": ("title", "job title", "position", "job", "role", "designation", "职位", "职务", "头衔", "岗位"),
    "source": ("source", "lead source", "channel", "来源", "线索来源", "渠道", "客户来源"),
    "country": ("country", "country code", "nation", "country region", "国家", "国家地区", "国家或地区", "国别"),
    "city": ("city", "town", "城市", "所在城市"),
    "industry": ("industry", "sector", "vertical", "行业", "所属行业"),
    "website": ("website", "web site", "web", "url", "homepage", "home page", "site", "网站", "网址", "主页",
                "公司网站"),
    "description": ("notes", "note", "comments", "comment", "description", "remarks", "remark", "备注", "说明",
                    "描述", "附注"),
    "company_size": ("company size", "size", "employees", "number of employees", "headcount", "公司规模",
                     "规模", "员工人数", "人数"),
    "utm_source": ("utm source",),
    "utm_medium": ("utm medium",),
    "utm_campaign": ("utm campaign",),
    "utm_term": ("utm term",),
    "utm_content": ("utm content",),
}

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def header_key(header: str) -> str:
    """A header compared without case, spaces or punctuation: "E-mail Address" = "email address"."""
    return _NON_WORD.sub("", unicodedata.normalize("NFKC", header or "").casefold())


_BY_KEY: dict[str, str] = {}
for _field, _names in SYNONYMS.items():
    for _name in (_field, *_names):
        _BY_KEY.setdefault(header_key(_name), _field)
for _field in IMPORT_FIELDS:
    _BY_KEY.setdefault(header_key(_field), _field)
    _BY_KEY.setdefault(header_key(str(_field).replace("_", " ")), _field)


def field_for_header(header: str) -> str | None:
    return _BY_KEY.get(header_key(header))


def suggest_mapping(headers: list[str]) -> dict[str, str]:
    """header → lead field for every header recognised; each field is filled by its first column."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for header in headers:
        target = field_for_header(header)
        if not header or target is None or target in taken or header in mapping:
            continue
        mapping[header] = target
        taken.add(target)
    # a full name next to separate first/last columns would fight over the same fields
    if "full_name" in taken and "last_name" in taken:
        mapping = {h: f for h, f in mapping.items() if f != "full_name"}
    return mapping


def resolve_mapping(headers: list[str], mapping: dict[str, str] | None) -> list[tuple[int, str, str]]:
    """[(column index, header, field)] for every mapped column. Raises ImportFileError("bad_mapping")
    for a header that is not in the file, an unknown field, a field mapped twice, or no name column."""
    if mapping is None:
        mapping = suggest_mapping(headers)
    if not isinstance(mapping, dict):
        raise ImportFileError(_("The column mapping must map column headers to lead fields."), code="bad_mapping")
    positions: dict[str, int] = {}
    for index, header in enumerate(headers):
        positions.setdefault(header, index)
    resolved: list[tuple[int, str, str]] = []
    used: dict[str, str] = {}
    problems: list[str] = []
    for header, target in mapping.items():
        target = (target or "").strip()
        if target.lower() in IGNORE:
            continue
        if header not in positions:
            problems.append(_("column %(header)r is not in the file (its columns are: %(columns)s)")
                            % {"header": header, "columns": ", ".join(repr(h) for h in headers if h)})
            continue
        if target not in IMPORT_FIELDS:
            problems.append(_("%(target)r is not a lead field that can be imported (choose one of %(fields)s)")
                            % {"target": target, "fields": ", ".join(IMPORT_FIELDS)})
            continue
        if target in used:
            problems.append(_("columns %(first)r and %(second)r both fill %(target)r")
                            % {"first": used[target], "second": header, "target": target})
            continue
        used[target] = header
        resolved.append((positions[header], header, target))
    if not problems and "last_name" not in used and "full_name" not in used:
        problems.append(_("no column gives the last name or the full name (a lead needs a name); columns "
                          "found: %(columns)s") % {"columns": ", ".join(repr(h) for h in headers if h) or "-"})
    if problems:
        raise ImportFileError(_("The column mapping cannot be used: %(problems)s.")
                              % {"problems": "; ".join(problems)}, code="bad_mapping")
    resolved.sort()
    return resolved


def parse_mapping_text(text: str) -> dict[str, str]:
    """`"Header=field,Other header=field"` → dict (the CLI's --mapping)."""
    mapping: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        header, eq, target = part.rpartition("=")
        if not eq:
            raise ImportFileError(_("%(part)r is not Header=field.") % {"part": part.strip()}, code="bad_mapping")
        mapping[header.strip()] = target.strip()
    return mapping


# --- names ----------------------------------------------------------------------------------------

# Two-character Chinese family names (复姓); every other Chinese family name is one character.
COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 诸葛 上官 东方 皇甫 令狐 慕容 尉迟 公孙 长孙 宇文 司徒 司空 夏侯 轩辕 端木 独孤 南宫 西门 呼延 "
    "澹台 万俟 申屠 太史 闻人 赫连 钟离 宗政 濮阳 公冶 单于 仲孙 百里 东郭 第五 鲜于 闾丘 左丘 公羊 梁丘 "
    "谷梁 拓跋 淳于 司寇 巫马 公良 乐正 漆雕 壤驷 公西 亓官 子车 颛孙 羊舌 微生 梁丘".split()
)
_PARTICLES = frozenset("van von de der den da di del della dos das du la le ten ter st st. bin al el".split())


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF
            or 0xAC00 <= code <= 0xD7AF or 0x20000 <= code <= 0x2FA1F)


def split_full_name(full: str) -> tuple[str, str]:
    """(last name, first name). Chinese/Korean names read family name first ("欧阳娜娜" → 欧阳, 娜娜);
    "Last, First" keeps its order; other names put the family name last ("Ludwig van Beethoven" →
    "van Beethoven", "Ludwig")."""
    full = " ".join((full or "").split())
    if not full:
        return "", ""
    if "," in full:
        last, _comma, first = full.partition(",")
        return last.strip(), first.strip()
    compact = full.replace(" ", "")
    if compact and _is_cjk(compact[0]) and not any(ch.isascii() and ch.isalpha() for ch in compact):
        if " " in full:  # "王 小明": the space marks the split
            last, _sp, first = full.partition(" ")
            return last, first.replace(" ", "")
        if len(compact) <= 1:
            return compact, ""
        if compact[:2] in COMPOUND_SURNAMES and len(compact) > 2:
            return compact[:2], compact[2:]
        return compact[0], compact[1:]
    parts = full.split(" ")
    if len(parts) == 1:
        return parts[0], ""
    cut = len(parts) - 1
    while cut > 1 and parts[cut - 1].lower() in _PARTICLES:
        cut -= 1
    return " ".join(parts[cut:]), " ".join(parts[:cut])
