"""The arithmetic of lead scoring, without I/O: fit rules matched against a lead's fields, engagement rules
over touch counts decayed by age, the clamp and the grade, the model's logit, and each factor in plain words.

A lead comes in as a dict of its fit fields (attribute values, e.g. "campaign" holds the campaign id) and
its touches as {touch kind: (count, {half-life in days: sum of 0.5^(age/half-life)})}.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
from dataclasses import dataclass

from django.utils.text import capfirst
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from ..choices import Grade, RuleKind, RuleOperator

# Lead fields a fit rule may test, as the lead's attribute names ("campaign" is the campaign's id).
FIT_FIELDS = {"industry": "industry", "company_size": "company_size", "country": "country", "title": "title",
              "source": "source", "campaign": "campaign_id", "city": "city", "utm_source": "utm_source",
              "utm_medium": "utm_medium", "utm_campaign": "utm_campaign"}
# The fields the predictive model one-hot encodes (top categories + "other").
MODEL_FIELDS = ("industry", "company_size", "country", "title", "source", "campaign")
GRADE_FLOORS = ((80, Grade.A), (60, Grade.B), (40, Grade.C))
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def grade_for(score: int | None) -> str:
    if score is None:
        return ""
    for floor, grade in GRADE_FLOORS:
        if score >= floor:
            return grade
    return Grade.D


def clamp_score(points: float) -> int:
    return max(0, min(100, int(math.floor(points + 0.5))))


def number_in(value) -> float | None:
    """The first number in a value ("51-200" → 51, "1000+" → 1000), or None."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    found = _NUMBER.search(str(value))
    return float(found.group()) if found else None


def decay(age_days: float, half_life_days: int | None) -> float:
    """A touch's weight at `age_days`: 0.5^(age / half-life); 1 without a half-life (and for future touches)."""
    if not half_life_days:
        return 1.0
    return 0.5 ** (max(age_days, 0.0) / half_life_days)


def _norm(value) -> str:
    return "" if value is None else str(value).strip().casefold()


def category(value) -> str:
    """A field value as the model's one-hot key: the text as stored, stripped."""
    return "" if value is None else str(value).strip()


@dataclass(frozen=True)
class Rule:
    """An active rule, compiled for speed."""

    id: int
    kind: str
    points: int
    field: str = ""
    operator: str = ""
    value: str = ""
    touch_kind: str = ""
    cap: int | None = None
    half_life_days: int | None = None
    _items: frozenset = dataclasses.field(default=frozenset(), compare=False)
    _number: float | None = dataclasses.field(default=None, compare=False)
    _memo: dict = dataclasses.field(default_factory=dict, compare=False)  # lead value → matches (few values)

    @classmethod
    def of(cls, rule) -> Rule:
        items = frozenset(_norm(v) for v in (rule.value or "").split(",") if v.strip())
        return cls(id=rule.pk, kind=rule.kind, points=rule.points, field=rule.field, operator=rule.operator,
                   value=rule.value or "", touch_kind=rule.touch_kind, cap=rule.cap,
                   half_life_days=rule.half_life_days or None, _items=items, _number=number_in(rule.value))

    def match_array(self, values: list):
        """`matches` of each value, as a numpy bool array (each distinct value tested once)."""
        import numpy as np

        found = {value: self.matches(value) for value in set(values)}
        return np.fromiter(map(found.__getitem__, values), dtype=bool, count=len(values))

    def matches(self, lead_value) -> bool:
        try:
            return self._memo[lead_value]
        except KeyError:
            found = self._memo[lead_value] = self._matches(lead_value)
            return found

    def _matches(self, lead_value) -> bool:
        if self.operator in (RuleOperator.GTE, RuleOperator.LTE):
            number = number_in(lead_value) if lead_value not in (None, "") else None
            if number is None or self._number is None:
                return False
            return number >= self._number if self.operator == RuleOperator.GTE else number <= self._number
        value = _norm(lead_value)
        if self.operator == RuleOperator.EQUALS:
            return value == _norm(self.value)
        if self.operator == RuleOperator.IN:
            return value in self._items
        if self.operator == RuleOperator.CONTAINS:
            return bool(value) and _norm(self.value) in value
        return False

    @functools.cached_property
    def fit_factor(self) -> dict:
        """The factor of a matching fit rule (one dict shared by every lead it matches: read only)."""
        return {"rule": self.id, "field": self.field, "op": self.operator, "value": self.value, "points": self.points}

    def engagement_points(self, touches: dict) -> tuple[float, int]:
        """(points, count) of this rule for a lead's touches: points × Σ decay, within ±cap."""
        count, decayed = touches.get(self.touch_kind, (0, {}))
        if not count:
            return 0.0, 0
        weight = decayed.get(self.half_life_days, count) if self.half_life_days else count
        points = self.points * weight
        if self.cap is not None:
            points = max(-self.cap, min(self.cap, points))
        return points, count


@dataclass
class Result:
    lead_id: int
    rule_score: int
    fit: float
    engagement: float
    probability: float | None
    score: int
    grade: str
    factors: list = dataclasses.field(default_factory=list)


def rule_points(rules: list[Rule], lead: dict, touches: dict) -> tuple[float, float, list[dict]]:
    """(fit, engagement, factors) of a lead under the rules; a factor per rule that gave points."""
    fit = engagement = 0.0
    factors = []
    for rule in rules:
        if rule.kind == RuleKind.FIT:
            if rule.matches(lead.get(rule.field)):
                fit += rule.points
                if rule.points:
                    factors.append(rule.fit_factor)
        else:
            points, count = rule.engagement_points(touches)
            if count and points:
                engagement += points
                factors.append({"rule": rule.id, "touch_kind": rule.touch_kind, "count": count,
                                "decays": bool(rule.half_life_days), "points": round(points, 2)})
    return fit, engagement, factors


class CompiledModel:
    """A trained model's coefficients as lookups: one dict per one-hot field, one weight per touch kind."""

    def __init__(self, feature_names: list[str], coefficients: list[float], intercept: float, model_id: int | None = None):
        self.id = model_id
        self.intercept = float(intercept)
        self.categories: dict[str, dict[str, float]] = {}  # field → {value (normalised): weight}
        self.other: dict[str, float] = {}  # field → weight of "any other value"
        self.touches: dict[str, float] = {}  # touch kind → weight of log(1 + count)
        self.rule_score = 0.0  # weight of rule score / 100
        self._parts: dict[tuple, tuple[float, dict] | None] = {}
        for name, weight in zip(feature_names, coefficients, strict=True):
            kind, _sep, rest = name.partition(":")
            if kind == "field":
                field_name, _sep, value = rest.partition("=")
                if value == "*other*":
                    self.other[field_name] = weight
                else:
                    self.categories.setdefault(field_name, {})[value] = weight
            elif kind == "touches":
                self.touches[rest] = weight
            elif kind == "rule_score":
                self.rule_score = weight

    def _part(self, key: tuple) -> tuple[float, dict] | None:
        """(weight, factor with its rounded weight) of one feature value, computed once per distinct value."""
        try:
            return self._parts[key]
        except KeyError:
            pass
        kind = key[0]
        part = None
        if kind == "field":
            _kind, field_name, value = key
            weights = self.categories.get(field_name, {})
            if value in weights:
                part = (weights[value], {"feature": field_name, "value": value})
            elif field_name in self.other:
                part = (self.other[field_name], {"feature": field_name, "value": value, "other": True})
        elif kind == "touches":
            _kind, touch_kind, count = key
            if touch_kind in self.touches:
                part = (self.touches[touch_kind] * math.log1p(count),
                        {"feature": "touches", "touch_kind": touch_kind, "count": count})
        elif self.rule_score:
            part = (self.rule_score * key[1] / 100.0, {"feature": "rule_score", "value": key[1]})
        if part is not None:
            part = (part[0], {**part[1], "weight": round(part[0], 2)})
        self._parts[key] = part
        return part

    def contributions(self, lead: dict, counts: dict[str, int], rule_score: int) -> list[tuple[float, dict]]:
        """(weight, factor) for each feature of the lead, on the logit scale: coefficient × value."""
        keys = [("field", name, category(lead.get(name))) for name in MODEL_FIELDS]
        keys += [("touches", kind, count) for kind, count in counts.items() if count]
        keys.append(("rule_score", rule_score))
        return [part for part in map(self._part, keys) if part is not None]

    def predict(self, lead: dict, counts: dict[str, int], rule_score: int) -> tuple[float, list[dict]]:
        """(probability, top 3 factors up and top 3 down)."""
        parts = self.contributions(lead, counts, rule_score)
        logit = self.intercept + sum(weight for weight, _factor in parts)
        probability = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, logit))))
        parts.sort(key=lambda p: -p[0])
        ups = [factor for weight, factor in parts[:3] if weight > 0.005]
        downs = [factor for weight, factor in reversed(parts[-3:]) if weight < -0.005]
        return probability, ups + downs


def score_lead(lead_id: int, lead: dict, touches: dict, rules: list[Rule], model: CompiledModel | None) -> Result:
    """The lead's score; its factors without their words (`factors_json` adds them when stored)."""
    fit, engagement, factors = rule_points(rules, lead, touches)
    rule_score = clamp_score(fit + engagement)
    probability = None
    score = rule_score
    if model is not None:
        counts = {kind: touches[kind][0] for kind in sorted(touches)}  # one order for every path (ties)
        probability, model_factors = model.predict(lead, counts, rule_score)
        factors += model_factors
        score = clamp_score(100.0 * probability)
        probability = round(probability, 4)
    return Result(lead_id=lead_id, rule_score=rule_score, fit=round(fit, 2), engagement=round(engagement, 2),
                  probability=probability, score=score, grade=grade_for(score), factors=factors)


# --- plain words ------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=256)
def _field_label(name: str, language: str) -> str:
    from l2c.leads.models import Lead

    try:
        return capfirst(str(Lead._meta.get_field(name).verbose_name))
    except Exception:  # a field that no longer exists
        return capfirst(name.replace("_", " "))


def field_label(name: str) -> str:
    return _field_label(name, get_language() or "")


@functools.lru_cache(maxsize=256)
def _touch_label(kind: str, language: str) -> str:
    from l2c.leads.choices import TouchKind

    return str(TouchKind(kind).label) if kind in TouchKind.values else kind.replace("_", " ")


def touch_label(kind: str) -> str:
    return _touch_label(kind, get_language() or "")


def _signed(number) -> str:
    return f"{number:+g}" if isinstance(number, int) else f"{number:+.2f}".rstrip("0").rstrip(".")


def factor_text(factor: dict) -> str:
    """A factor in plain words, in the active language: "Country is CN: +0.8"."""
    amount = factor.get("weight", factor.get("points", 0))
    return _("%(reason)s: %(amount)s") % {"reason": factor_reason(factor), "amount": _signed(amount)}


def factor_reason(factor: dict) -> str:
    if "rule" in factor and "field" in factor:
        op = factor.get("op")
        label = field_label(factor["field"])
        words = {RuleOperator.EQUALS: _("%(field)s is %(value)s"),
                 RuleOperator.IN: _("%(field)s is one of %(value)s"),
                 RuleOperator.CONTAINS: _("%(field)s contains %(value)s"),
                 RuleOperator.GTE: _("%(field)s is at least %(value)s"),
                 RuleOperator.LTE: _("%(field)s is at most %(value)s")}
        return words.get(op, words[RuleOperator.EQUALS]) % {"field": label, "value": factor.get("value", "")}
    if "rule" in factor and "touch_kind" in factor:
        if factor.get("decays"):
            return _("%(count)s × %(kind)s (older ones count less)") % {
                "count": factor.get("count", 0), "kind": touch_label(factor["touch_kind"])}
        return _("%(count)s × %(kind)s") % {"count": factor.get("count", 0), "kind": touch_label(factor["touch_kind"])}
    feature = factor.get("feature")
    if feature == "touches":
        return _("%(count)s × %(kind)s") % {"count": factor.get("count", 0), "kind": touch_label(factor["touch_kind"])}
    if feature == "rule_score":
        return _("Rule score %(value)s") % {"value": factor.get("value")}
    if feature:
        label = field_label(feature)
        if factor.get("other"):
            return _("%(field)s is a less common value") % {"field": label}
        if not factor.get("value"):
            return _("%(field)s is empty") % {"field": label}
        return _("%(field)s is %(value)s") % {"field": label, "value": factor["value"]}
    return str(factor.get("text", ""))


@functools.lru_cache(maxsize=100_000)
def _cached_text(items: tuple, language: str) -> str:
    return factor_text(dict(items))


def with_text(factors: list[dict], language: str | None = None) -> list[dict]:
    """The factors, each with "text" in the active language (worded once per distinct factor)."""
    language = language if language is not None else (get_language() or "")
    return [{**f, "text": _cached_text(tuple(f.items()) if "text" not in f else
                                       tuple((k, v) for k, v in f.items() if k != "text"), language)}
            for f in factors]


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@functools.lru_cache(maxsize=200_000)
def _factor_json(items: tuple, language: str) -> str:
    factor = dict(items)
    return _encode({**factor, "text": factor_text(factor)})


def factors_json(factors: list[dict], language: str) -> str:
    """The factors as a JSON array, each with "text" in `language` (each distinct factor worded and encoded
    once per run: a batch of a million leads repeats the same few thousand)."""
    return "[" + ",".join([_factor_json(tuple(f.items()), language) for f in factors]) + "]"


# --- a batch of leads at once (numpy) ------------------------------------------------------------------------
# The same arithmetic as `score_lead`, column by column, in the same order of additions (so each float is the
# same to the last bit), Python's `round` and `math.exp` for what is stored; each factor's JSON text is made
# once per distinct factor and shared. `score_lead` stays the readable reference (tests compare the two).

@dataclass
class Touches:
    """A batch's touches as columns: per touch kind the count of each lead, per (kind, half-life) each lead's
    Σ 0.5^(age/half-life)."""

    counts: dict
    decayed: dict

    @classmethod
    def of_rows(cls, ids: list[int], rows: list[tuple], half_lives: list[int]) -> Touches:
        """From (lead id, kind, count, Σ decay of each half-life…) rows; `ids` ascending; rows of leads that
        are not in `ids` are left out."""
        import numpy as np

        n = len(ids)
        counts: dict = {}
        decayed: dict = {}
        if not n or not rows:
            return cls(counts, decayed)
        id_array = np.asarray(ids, dtype=np.int64)
        lead_ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        at = np.minimum(np.searchsorted(id_array, lead_ids), n - 1)
        known = id_array[at] == lead_ids
        by_kind: dict[str, list[int]] = {}
        for index, row in enumerate(rows):
            by_kind.setdefault(row[1], []).append(index)
        for kind in sorted(by_kind):
            members = [m for m in by_kind[kind] if known[m]]
            if not members:
                continue
            where = at[members]
            count = np.zeros(n, dtype=np.int64)
            count[where] = [rows[m][2] for m in members]
            counts[kind] = count
            for column, half_life in enumerate(half_lives, start=3):
                sums = np.zeros(n)
                sums[where] = [float(rows[m][column]) for m in members]
                decayed[(kind, half_life)] = sums
        return cls(counts, decayed)


@dataclass
class Batch:
    """Scores of a batch of leads, column by column; `factors` is each lead's JSON text."""

    ids: list
    stored: list
    score: list
    rule_score: list
    fit: list
    engagement: list
    probability: list
    grade: list
    factors: list

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self) -> list[tuple]:
        """(lead id, score, rule score, fit, engagement, probability, grade, factors JSON) per lead."""
        return list(zip(self.ids, self.score, self.rule_score, self.fit, self.engagement, self.probability,
                        self.grade, self.factors, strict=True))


def _factor_text_json(factor: dict, language: str) -> str:
    return _factor_json(tuple(factor.items()), language)


def _engagement_columns(rule: Rule, touches: Touches):
    """(points, given) arrays of an engagement rule: points × Σ decay within ±cap, and which leads got any."""
    import numpy as np

    count = touches.counts.get(rule.touch_kind)
    if count is None:
        return None, None
    weight = touches.decayed[(rule.touch_kind, rule.half_life_days)] if rule.half_life_days else count
    points = rule.points * weight
    if rule.cap is not None:
        points = np.clip(points, -rule.cap, rule.cap)
    return points, (count > 0) & (points != 0)


def _model_columns(model: CompiledModel, columns: dict, touches: Touches, rule_score, language: str):
    """(weights, texts): per feature of the model (in `contributions` order) each lead's weight (0 when the
    feature does not apply) and its factor's JSON text."""
    import numpy as np

    n = len(rule_score)
    weights, texts = [], []

    def lookup(keys: dict):  # distinct key → (weight, text) or None
        found = {}
        for key_of, feature_key in keys.items():
            part = model._part(feature_key)
            found[key_of] = (0.0, None) if part is None else (part[0], _factor_text_json(part[1], language))
        return found

    for name in MODEL_FIELDS:
        values = columns[name]
        found = lookup({value: ("field", name, category(value)) for value in set(values)})
        weights.append(np.fromiter((found[v][0] for v in values), dtype=float, count=n))
        texts.append([found[v][1] for v in values])
    for kind in sorted(touches.counts):
        count = touches.counts[kind]
        distinct = np.unique(count).tolist()
        found = lookup({c: ("touches", kind, c) for c in distinct if c})
        found[0] = (0.0, None)
        table_w = np.zeros(max(distinct) + 1)
        table_t = [None] * (max(distinct) + 1)
        for c, (w, t) in found.items():
            table_w[c], table_t[c] = w, t
        weights.append(table_w[count])
        texts.append([table_t[c] for c in count.tolist()])
    if model.rule_score:
        found = lookup({s: ("rule_score", s) for s in range(101)})
        table_w = np.array([found[s][0] for s in range(101)])
        weights.append(table_w[rule_score])
        texts.append([found[s][1] for s in rule_score.tolist()])
    return weights, texts


def score_batch(ids: list[int], stored: list, columns: dict[str, list], touches: Touches, rules: list[Rule],
                model: CompiledModel | None, language: str) -> Batch:
    """What `score_lead` gives for each lead, for a whole batch; `columns` holds each fit field's values in
    the order of `ids` (every field a rule tests, and MODEL_FIELDS when there is a model)."""
    import numpy as np

    n = len(ids)
    fit = np.zeros(n)
    engagement = np.zeros(n)
    factors: list[list[str]] = [[] for _i in range(n)]
    for rule in rules:
        if rule.kind == RuleKind.FIT:
            matched = rule.match_array(columns[rule.field])
            fit += np.where(matched, float(rule.points), 0.0)
            if rule.points:
                text = _factor_text_json(rule.fit_factor, language)
                for i in np.flatnonzero(matched).tolist():
                    factors[i].append(text)
            continue
        points, given = _engagement_columns(rule, touches)
        if points is None:
            continue
        engagement += np.where(given, points, 0)
        chosen = np.flatnonzero(given)
        memo = rule._memo.setdefault(("json", language), {})
        cap = rule.cap
        for i, count, amount in zip(chosen.tolist(), touches.counts[rule.touch_kind][chosen].tolist(),
                                    points[chosen].tolist(), strict=True):
            if cap is not None and (amount >= cap or amount <= -cap):
                amount = cap if amount > 0 else -cap  # as min()/max() give it: the int cap
            amount = round(amount, 2)
            key = (count, amount, type(amount))
            text = memo.get(key)
            if text is None:
                text = memo[key] = _factor_text_json(
                    {"rule": rule.id, "touch_kind": rule.touch_kind, "count": count,
                     "decays": bool(rule.half_life_days), "points": amount}, language)
            factors[i].append(text)
    rule_score = np.clip(np.floor(fit + engagement + 0.5), 0, 100).astype(np.int64)
    if model is None:
        score = rule_score.tolist()
        probability = [None] * n
    else:
        weights, texts = _model_columns(model, columns, touches, rule_score, language)
        total = np.zeros(n)
        for column in weights:
            total = total + column  # in `predict`'s order of additions
        logits = (model.intercept + total).tolist()
        raw = [1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, logit)))) for logit in logits]
        score = [clamp_score(100.0 * p) for p in raw]
        probability = [round(p, 4) for p in raw]
        matrix = np.column_stack(weights)
        order = np.argsort(-matrix, axis=1, kind="stable")  # like list.sort: ties keep the features' order
        top, bottom = order[:, :3], order[:, ::-1][:, :3]
        for picked, keep in ((top, np.take_along_axis(matrix, top, axis=1) > 0.005),
                             (bottom, np.take_along_axis(matrix, bottom, axis=1) < -0.005)):
            rows, places = np.nonzero(keep)
            features = picked[rows, places].tolist()
            for i, feature in zip(rows.tolist(), features, strict=True):
                factors[i].append(texts[feature][i])
    grades = [grade_for(s) for s in range(101)]
    return Batch(ids=list(ids), stored=list(stored), score=score, rule_score=rule_score.tolist(),
                 fit=[round(x, 2) for x in fit.tolist()], engagement=[round(x, 2) for x in engagement.tolist()],
                 probability=probability, grade=[grades[s] for s in score],
                 factors=["[" + ",".join(f) + "]" for f in factors])
