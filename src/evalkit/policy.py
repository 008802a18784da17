"""The gate policy: a YAML file, or the `gate:` section of a suite.

Unknown keys are errors naming the key's path and the nearest known key.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, ValidationError, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError

from evalkit.errors import BadInput
from evalkit.headline import HEADLINE, HeadlineMetric, gated


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _HeadlineBounds(BaseModel):
    """A value per headline metric (any subset), its names and ranges read from the registry
    (evalkit.headline) when a policy is validated and when the schema is written."""

    model_config = ConfigDict(extra="allow")

    @staticmethod
    def _range(metric: HeadlineMetric) -> tuple[float, float]:
        raise NotImplementedError

    @staticmethod
    def _describe(metric: HeadlineMetric) -> str:
        return metric.description

    @model_validator(mode="after")
    def _known_metrics(self) -> _HeadlineBounds:
        extra = self.__pydantic_extra__ or {}
        for name, value in list(extra.items()):
            metric = HEADLINE.get(name)
            if metric is None or not metric.gated:
                raise PydanticCustomError("unknown_metric", "unknown key", {"key": name})
            if value is None:
                continue
            low, high = self._range(metric)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise PydanticCustomError(
                    "metric_range",
                    "expected a number from {low} to {high}, got {value}",
                    {"key": name, "low": low, "high": high, "value": value},
                )
            extra[name] = float(value)
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        schema["properties"] = {}
        for metric in gated():
            low, high = cls._range(metric)
            schema["properties"][metric.name] = {
                "anyOf": [{"type": "number", "minimum": low, "maximum": high}, {"type": "null"}],
                "description": cls._describe(metric),
            }
        schema["additionalProperties"] = False
        return schema

    def get(self, name: str) -> float | None:
        """The value set for the metric `name`, or None."""
        value = (self.__pydantic_extra__ or {}).get(name)
        return float(value) if value is not None else None


class MinMetrics(_HeadlineBounds):
    """Floors on a route's headline metrics (any subset)."""

    @staticmethod
    def _range(metric: HeadlineMetric) -> tuple[float, float]:
        return metric.bounds


class MinLabel(_Strict):
    """Floors on one label's precision, recall and F1."""

    precision: float | None = Field(None, ge=0.0, le=1.0)
    recall: float | None = Field(None, ge=0.0, le=1.0)
    f1: float | None = Field(None, ge=0.0, le=1.0)


class MaxDrop(_HeadlineBounds):
    """Non-inferiority: the largest drop from the baseline allowed, per metric (baseline minus candidate)."""

    @staticmethod
    def _range(metric: HeadlineMetric) -> tuple[float, float]:
        return 0.0, metric.drop_bound

    @staticmethod
    def _describe(metric: HeadlineMetric) -> str:
        return f"Largest drop of {metric.label} allowed (baseline minus candidate)."


class GatePolicy(_Strict):
    """When a candidate route is approved."""

    candidate: str | None = Field(None, description="The route under approval (--route overrides).")
    baseline: str | None = Field(None, description="A route of the same run to compare against (--baseline overrides).")
    min: MinMetrics | None = Field(None, description="Floors on the candidate's overall metrics.")
    min_by_tag: dict[str, MinMetrics] = Field(
        default_factory=dict,
        description="Floors on the metrics of the cases with a tag, decided on the 95% interval: "
        "pass when its lower bound meets the floor, fail when its upper bound is below, "
        "otherwise undecided (a warning).",
    )
    min_by_label: dict[str, MinLabel] = Field(
        default_factory=dict,
        description="Floors on one label's precision, recall, F1, decided on the 95% interval as min_by_tag.",
    )
    max_drop: MaxDrop | None = Field(None, description="Largest drop against the baseline allowed, per metric.")
    drop_on: Literal["point", "ci95"] = Field(
        "ci95",
        description="ci95 (the default): max_drop approves only when the lower bound of the paired 95% interval "
        "(Newcombe for accuracy, BCa bootstrap otherwise) is at least minus the margin; point: on the "
        "observed delta, which approves worse candidates often (the gate prints how often).",
    )
    require_significant_improvement: bool = Field(
        False,
        description="The candidate must beat the baseline: the one-sided exact McNemar test (per-call "
        "correctness paired by case) below alpha.",
    )
    alpha: float = Field(
        0.05, gt=0.0, lt=1.0, description="One-sided significance level of require_significant_improvement."
    )
    min_cases: int = Field(
        10,
        ge=1,
        description="min_by_tag and min_by_label floors on fewer cases than this are not decided: "
        "'too few cases to decide', a warning.",
    )
    error_budget: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Largest share of error rows allowed (candidate, and baseline when set); "
        "beyond it the gate exits 3.",
    )
    max_cost_per_1k_usd: float | None = Field(
        None, ge=0.0, description="Ceiling on USD per 1,000 cases; an unknown cost fails."
    )
    max_latency_p95_ms: float | None = Field(
        None, gt=0.0, description="Ceiling on the 95th percentile latency in milliseconds."
    )
    min_fields: dict[str, float] = Field(
        default_factory=dict,
        description="Floors on scored fields' metrics, FIELD.METRIC: value (e.g. "
        "severity.weighted_kappa: 0.6); also written under min: with the dotted key.",
    )
    max_drop_fields: dict[str, float] = Field(
        default_factory=dict,
        description="Largest drop allowed per scored field's metric, FIELD.METRIC: value (e.g. "
        "severity.accuracy: 0.02); also written under max_drop: with the dotted key.",
    )
    judge_agreement_min: float = Field(
        0.6,
        ge=-1.0,
        le=1.0,
        description="A check on a judged field's metric needs the judge's quadratic-weighted "
        "kappa with the cases' human grades at least this high.",
    )
    allow_unvalidated_judge: bool = Field(
        False,
        description="Accept checks on judged metrics whose judge has no (or too little) agreement with human grades.",
    )

    def sets_checks(self) -> bool:
        """True when the policy asks for at least one check."""
        return any(
            [
                self.min and self.min.model_dump(exclude_none=True),
                self.min_by_tag,
                self.min_by_label,
                self.max_drop and self.max_drop.model_dump(exclude_none=True),
                self.require_significant_improvement,
                self.error_budget is not None,
                self.max_cost_per_1k_usd is not None,
                self.max_latency_p95_ms is not None,
                self.min_fields,
                self.max_drop_fields,
            ]
        )


POLICY_MODELS = (GatePolicy, MinMetrics, MinLabel, MaxDrop)


def _known_keys() -> list[str]:
    return sorted({key for model in POLICY_MODELS for key in model.model_fields} | {m.name for m in gated()})


def explain(error: Any, prefix: str = "") -> tuple[tuple[Any, ...], str]:
    """(key path, message) for one pydantic error of a policy."""
    loc = tuple(error["loc"])
    if error["type"] in ("unknown_metric", "metric_range"):
        loc = (*loc, error["ctx"]["key"])  # the metric's own key, for its line
    path = prefix + ".".join(str(part) for part in loc)
    if error["type"] in ("extra_forbidden", "unknown_metric"):
        near = difflib.get_close_matches(str(loc[-1]), _known_keys(), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        return loc, f"unknown key {path!r}{hint}"
    return loc, f"{path or 'gate'}: {error['msg'].removeprefix('Value error, ')}"


def parse_policy(
    data: Any, *, where: str, prefix: str = "", line_of: Callable[[tuple[Any, ...]], int | None] = lambda loc: None
) -> GatePolicy:
    """Validate a policy mapping; bad input names the file, line and key path."""
    if isinstance(data, GatePolicy):
        return data
    if not isinstance(data, dict):
        raise BadInput("a gate policy must be a mapping (min, max_drop, error_budget, ...)", where=where)
    data = _dotted_apart(data)
    try:
        return GatePolicy.model_validate(data)
    except ValidationError as exc:
        loc, message = explain(exc.errors()[0], prefix)
        line = line_of(loc)
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise BadInput(message + suffix, where=f"{where}:{line}" if line else where) from None


def _dotted_apart(data: dict[str, Any]) -> dict[str, Any]:
    """`min: {severity.weighted_kappa: 0.6}` is a floor on a scored field's metric: dotted keys of
    `min` and `max_drop` move to `min_fields` and `max_drop_fields`."""
    data = dict(data)
    for section, target in (("min", "min_fields"), ("max_drop", "max_drop_fields")):
        block = data.get(section)
        if isinstance(block, dict) and any("." in str(key) for key in block):
            dotted = {str(k): v for k, v in block.items() if "." in str(k)}
            data[section] = {k: v for k, v in block.items() if "." not in str(k)} or None
            data[target] = {**(data.get(target) or {}), **dotted}
    return data


def load_policy(path: str | Path) -> GatePolicy:
    """Read a policy file (YAML or JSON): the policy's keys at the top, or under a single `gate:`
    key, so the suite's section pasted into a file works as it stands."""
    from evalkit.yamlfile import load_with_lines

    path = Path(path)
    data, line_of = load_with_lines(path, "gate policy file")
    if isinstance(data, dict) and list(data) == ["gate"]:
        return parse_policy(data["gate"], where=str(path), prefix="gate.", line_of=lambda loc: line_of(("gate", *loc)))
    return parse_policy(data, where=str(path), line_of=line_of)


def policy_of_run(manifest: dict[str, Any], where: str) -> GatePolicy | None:
    """The `gate:` section of the suite a run was made with, or None."""
    data = (manifest.get("suite") or {}).get("spec", {}).get("gate")
    if data is None:
        return None
    return parse_policy(data, where=where, prefix="gate.")
