"""Merge fields: the small template language of e-mail templates, checked at save time and rendered safely.

A template may hold text and merge fields only: `{{ lead.first_name }}`, optionally with one filter,
`default` (`{{ lead.first_name|default:"there" }}`). No tag at all (`{% load %}`, `{% include %}`, `{% if %}`…)
and no name outside MERGE_FIELDS: both are refused when the template is saved, naming the line.

Rendering uses a dedicated Django `Engine` with no loaders, no libraries and only the `default` filter, and a
context of plain strings (never model instances, so a template cannot reach anything it was not handed).
HTML is autoescaped; subject and text are not (they are not HTML). A field without a value renders empty,
or as its default. The plain-text alternative is the text body when given, else derived from the HTML.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from django.template import Context, Engine, Library, TemplateSyntaxError, defaultfilters
from django.template.base import TextNode, VariableNode
from django.utils.translation import gettext as _

from l2c.core.errors import FieldError

MERGE_FIELDS = {
    "lead.first_name", "lead.last_name", "lead.full_name", "lead.email", "lead.company", "lead.title",
    "contact.first_name", "contact.last_name", "contact.full_name", "contact.email", "contact.title",
    "contact.company",
    "owner.name", "owner.email",
    "company.name", "company.email", "company.phone", "company.website",
    "unsubscribe_url",
}
ALLOWED_FILTERS = {"default"}
MAX_SUBJECT = 250
MAX_BODY = 200_000

_register = Library()
_register.filter("default", defaultfilters.default)


class MergeEngine(Engine):
    """No loaders (so no include/extends), no tag libraries, only the `default` filter."""

    default_builtins: list = []

    def get_template_builtins(self, builtins):
        return [_register]


ENGINE = MergeEngine(libraries={}, loaders=[], debug=True)  # debug keeps the line of each node
_TAG = re.compile(r"{%\s*(\w*)")


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str
    language: str = "en"


def _line_of(source: str, position: int) -> int:
    return source.count("\n", 0, position) + 1


def check(source: str, *, field: str) -> list[FieldError]:
    """Why `source` is not a valid subject or body (each problem with its line), or []."""
    if not source:
        return []
    tag = _TAG.search(source)
    if tag:
        name = tag.group(1) or "%"
        return [FieldError(field, _("Line %(line)d: template tags such as {%% %(tag)s %%} are not allowed; use "
                                    "merge fields like {{ lead.first_name }} only.")
                           % {"line": _line_of(source, tag.start()), "tag": name}, "tag_not_allowed")]
    try:
        template = ENGINE.from_string(source)
    except TemplateSyntaxError as exc:
        line = (getattr(exc, "template_debug", None) or {}).get("line") or 1
        return [FieldError(field, _("Line %(line)s: %(error)s") % {"line": line, "error": exc.args[0] if exc.args
                                                                    else exc}, "template_syntax")]
    errors = []
    for node in template.nodelist:
        if isinstance(node, TextNode):
            continue
        if not isinstance(node, VariableNode):  # cannot happen without tags; refuse rather than trust
            errors.append(FieldError(field, _("Only merge fields are allowed."), "tag_not_allowed"))
            continue
        line = node.token.lineno if node.token else 1
        expression = node.filter_expression
        variable = getattr(expression.var, "var", None)
        if not isinstance(variable, str) or variable not in MERGE_FIELDS:
            shown = variable if isinstance(variable, str) else expression.token
            errors.append(FieldError(field, _("Line %(line)d: unknown merge field {{ %(name)s }}. Allowed: "
                                              "%(allowed)s.") % {"line": line, "name": shown,
                                                                "allowed": ", ".join(sorted(MERGE_FIELDS))},
                                     "unknown_merge_field"))
        for func, _args in expression.filters:
            if getattr(func, "_filter_name", func.__name__) not in ALLOWED_FILTERS:
                errors.append(FieldError(field, _("Line %(line)d: only the filter \"default\" is allowed.")
                                         % {"line": line}, "filter_not_allowed"))
    return errors


@functools.lru_cache(maxsize=128)
def compiled(source: str):
    """`source` parsed once per process: a sequence step renders one template for thousands of leads. A
    Template keeps no state between renders (it renders into the Context), so sharing it is safe; the key is
    the source itself, so an edited template is parsed afresh."""
    return ENGINE.from_string(source)


def render(source: str, context: dict, *, html: bool) -> str:
    if not source:
        return ""
    # a plain str, not SafeString: a page that shows it must escape it (the preview's srcdoc does)
    return str.__str__(compiled(source).render(Context(context, autoescape=html)))


# --- the plain-text alternative ------------------------------------------------------------------------

_BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote",
           "section", "article", "header", "footer", "hr"}


class _TextExtractor(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[tuple[str, int]] = []  # (href, index in parts where the link text starts)
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head", "title"):
            self.skip += 1
        elif tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.parts)))
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag, attrs):
        if tag in ("br", "hr"):
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head", "title"):
            self.skip = max(0, self.skip - 1)
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            label = "".join(self.parts[start:]).strip()
            if href and not href.startswith("#") and href != label:
                self.parts.append(f" ({href})" if label else href)
        elif tag in _BLOCKS and tag != "li":
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Readable text from HTML: tags stripped, paragraphs on their own lines, links as "text (url)"."""
    parser = _TextExtractor()
    parser.feed(html or "")
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def render_all(*, subject: str, html: str, text: str, context: dict, language: str) -> Rendered:
    rendered_html = render(html, context, html=True)
    rendered_text = render(text, context, html=False) if text and text.strip() else html_to_text(rendered_html)
    subject = " ".join(render(subject, context, html=False).split())  # a header: one line
    return Rendered(subject=subject, html=rendered_html, text=rendered_text, language=language)
