"""The suite file as pydantic models, and its loader."""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from evalkit.errors import BadInput
from evalkit.fields import FieldSpec
from evalkit.policy import POLICY_MODELS, GatePolicy


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Task(_Strict):
    """What the model must answer: a label from a closed set."""

    labels: list[str] = Field(min_length=2, description="The closed label set, declared up front.")
    label_descriptions: dict[str, str] = Field(
        default_factory=dict, description="Label -> text; goes into prompts and the packet."
    )
    output_format: Literal["json", "text"] = Field(
        "json", description="json: parse, validate, take label_field; text: the label is the output."
    )
    ignore_case: bool = Field(False, description="Text mode: compare labels case-insensitively.")
    output_schema: dict[str, Any] | str | None = Field(
        None, description="JSON Schema of the output, or a path to one (json mode)."
    )
    label_field: str | None = Field(None, description="Dot path of the label in the parsed output (json mode).")
    extract: str | None = Field(None, description="Text mode: the label is group 1 of this regex's first match.")
    label_weight: float = Field(1.0, ge=0, description=(
        "The label's weight in exported graders and rewards (evalkit ft export --grader-out, ft reward); "
        "task.fields give the other fields' weights."))
    fields: dict[str, FieldSpec] = Field(default_factory=dict, description=(
        "JSON mode: how other fields of the output are scored, by dot path: label, ordinal (with order), "
        "text (checks), number (tolerance), boolean or exact. The label_field stays the headline."))

    @field_validator("labels")
    @classmethod
    def _unique_labels(cls, labels: list[str]) -> list[str]:
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise ValueError(f"labels appear twice: {', '.join(dupes)}")
        return labels

    @model_validator(mode="after")
    def _mode_fields(self) -> Task:
        if self.output_format == "json" and not self.label_field:
            raise ValueError("json output needs task.label_field (where the label sits in the output)")
        if self.extract is not None:
            import re

            try:
                pattern = re.compile(self.extract)
            except re.error as exc:
                raise ValueError(f"extract is not a valid regex: {exc}") from None
            if pattern.groups < 1:
                raise ValueError("extract needs a capture group: the label is group 1")
        unknown = sorted(set(self.label_descriptions) - set(self.labels))
        if unknown:
            raise ValueError(f"label_descriptions names labels outside task.labels: {', '.join(unknown)}")
        if self.fields and self.output_format != "json":
            raise ValueError("scored fields need json output: task.fields names fields of the output object")
        if self.label_field in self.fields:
            raise ValueError(f"fields.{self.label_field}: the label_field is scored already, as the headline")
        return self


class Examples(_Strict):
    """Few-shot examples drawn from the train split (prompted routes)."""

    k: int = Field(4, ge=0)
    strategy: Literal["fixed", "stratified", "similar"] = "stratified"
    ids: list[str] = Field(default_factory=list, description="Case ids for strategy fixed.")


class Repair(_Strict):
    """Repair passes: ask again, in the same conversation, when an answer does not parse."""

    attempts: int = Field(1, ge=1, le=5, description="Repair passes at most, after the first answer.")


class Retrieval(_Strict):
    """How a RAG route chunks the corpus and how many chunks it retrieves."""

    k: int = Field(3, ge=1)
    chunk_chars: int = Field(800, ge=50)
    overlap: int = Field(100, ge=0)

    @model_validator(mode="after")
    def _overlap_below_chunk(self) -> Retrieval:
        if self.overlap >= self.chunk_chars:
            raise ValueError(f"overlap ({self.overlap}) must be smaller than chunk_chars ({self.chunk_chars})")
        return self


class HttpResponsePaths(_Strict):
    """Where an http: route's answer sits in the service's JSON response: dotted paths
    (`a.b.0.c` or `a.b[0].c`). Without `output`, a JSON string response or a non-JSON body is the output."""

    output: str | None = Field(None, description="Path of the output (text, or an object written as JSON).")
    input_tokens: str | None = None
    output_tokens: str | None = None
    model: str | None = None
    cost_usd: str | None = None
    retrieved: str | None = Field(None, description="Path of the list of retrieved documents (objects or ids).")
    retrieved_id: str = Field("id", description="Path of a document's id within one retrieved item.")
    retrieved_score: str = "score"
    retrieved_text: str = "text"


class HttpRoute(_Strict):
    """An http: route: the request evalkit sends to the team's own service."""

    url: str | None = Field(None, description="The service's URL (or give it in the model: http:https://...).")
    method: Literal["POST", "PUT", "PATCH", "GET"] = "POST"
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Header values; ${VAR} is read from the environment at call time and never written anywhere.",
    )
    body: str | dict[str, Any] | list[Any] | None = Field(
        None,
        description="The JSON body: a sandboxed Jinja2 template "
        "(a string that renders to JSON, or an object whose string values are templates).",
    )
    response: HttpResponsePaths = Field(default_factory=lambda: HttpResponsePaths())


class Route(_Strict):
    """One way of answering the task: base, prompted, rag or finetuned."""

    kind: Literal["base", "prompted", "rag", "finetuned"]
    model: str = Field(description="PROVIDER:MODEL, e.g. openai:gpt-4.1-mini or replay:outputs.jsonl")
    system: str | None = None
    prompt: str | None = None
    examples: Examples | None = None
    retrieval: Retrieval | None = None
    base_model: str | None = Field(None, description="Fine-tuned routes: the model that was tuned.")
    job_id: str | None = None
    training_file_sha256: str | None = None
    trained_tokens: int | None = Field(None, description="Fine-tuned routes: billable tokens the job processed.")
    training_cost_usd: float | None = Field(None, description="Fine-tuned routes: what training cost, in USD.")
    provider: str | None = Field(None, description="Fine-tuned routes: who trained it (openai, together, ...).")
    hosting_usd_per_hour: float | None = Field(None, ge=0, description="Fine-tuned routes: a fixed hosting cost of the "
                                               "deployed model in USD per hour, billed whether or not it is called "
                                               "(some platforms bill deployed tuned models by the hour); counted "
                                               "in the packet's monthly cost and break-even.")
    base_url: str | None = Field(None, description="Any compatible endpoint for this route.")
    api_key_env: str | None = Field(None, description="Name of the variable holding this route's key.")
    params: dict[str, Any] = Field(default_factory=dict, description="Overrides the suite defaults.")
    repair: Repair | None = Field(None, description=(
        "When an answer does not parse or fails the output schema, ask again with the error, up to attempts times."))
    http: HttpRoute | None = Field(
        None, description="http: routes: URL, method, headers, body template and response paths."
    )

    @field_validator("model")
    @classmethod
    def _provider_prefix(cls, model: str) -> str:
        if ":" not in model or not model.split(":", 1)[0] or not model.split(":", 1)[1]:
            raise ValueError(f"model must be PROVIDER:MODEL (for example openai:gpt-4.1-mini), got {model!r}")
        return model


class Defaults(_Strict):
    temperature: float = 0.0
    max_tokens: int = 512
    seed: int | None = None
    timeout_s: float = 60.0


class Price(_Strict):
    input: float = Field(description="USD per million input tokens")
    output: float = Field(description="USD per million output tokens")
    batch_input: float | None = None
    batch_output: float | None = None
    cached_input: float | None = Field(None, description="USD per million input tokens read from the prompt cache "
                                                         "(OpenAI cached tokens, Anthropic cache reads); "
                                                         "none: the input rate")
    cache_write: float | None = Field(None, description="USD per million input tokens written to the prompt cache "
                                                        "(Anthropic cache writes); none: the input rate")
    training: float | None = Field(None, description="USD per million training tokens (fine-tuning)")
    as_of: str | None = Field(None, description="When this price was looked up (YYYY-MM-DD)")
    source: str | None = Field(None, description="Where this price comes from (a pricing page's URL)")


class CaseSource(_Strict):
    path: str
    format: str = "evalkit"
    label_field: str | None = None


class Suite(_Strict):
    """An eval suite: a task, its cases, and the routes that answer it."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$",
                      description="A safe folder name (runs go to reports/NAME): letters, digits, '_', '-', '.', "
                                  "starting with a letter or digit.")

    @field_validator("name", mode="before")
    @classmethod
    def _safe_slug(cls, name: Any) -> Any:
        import re

        if isinstance(name, str) and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", name):
            raise ValueError(f"{name!r} is not a safe folder name: use letters, digits, '_', '-' and '.', "
                             f"starting with a letter or digit (at most 100 characters)")
        return name
    description: str = ""
    owner: str | None = Field(None, description="Who retrains and answers for the model.")
    task: Task
    cases: str | CaseSource | list[str | CaseSource]
    corpus: str | None = None
    defaults: Defaults = Field(default_factory=Defaults)
    routes: dict[str, Route] = Field(min_length=1)
    pricing: dict[str, Price] = Field(
        default_factory=dict, description="Overrides of the shipped price table, by PROVIDER:MODEL."
    )
    monthly_volume: int | None = Field(None, ge=1, description="Cases a month in production: the packet's monthly cost "
                                                               "and the tuned route's break-even use it unless "
                                                               "--monthly-volume is given.")
    gate: GatePolicy | None = Field(None, description="The gate policy (docs/ci.md, section 2).")
    allow_outside_paths: bool = Field(False, description="Let the paths in this file (cases, corpus, output schema, "
                                      "route files) point outside the suite's folder and the git work tree holding it.")

    @model_validator(mode="after")
    def _routes_need_what_they_use(self) -> Suite:
        for name, route in self.routes.items():
            if route.kind == "rag" and not self.corpus and route.model.split(":", 1)[0] not in ("python", "http"):
                raise ValueError(f"route {name!r} is a rag route but the suite has no corpus")
        return self


def suite_json_schema() -> dict[str, Any]:
    """The JSON Schema of the suite file, for editors and `evalkit schema`."""
    schema = Suite.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "evalkit suite"
    return schema


@dataclass
class LoadedSuite:
    """A validated suite with its cases, schema and paths resolved."""

    path: Path
    spec: Suite
    cases: list  # list[Case]
    output_schema: dict[str, Any] | None
    sha256: str
    cases_sha256: str
    corpus_path: Path | None = None
    _validator: Any = field(default=None, repr=False)

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def labels(self) -> list[str]:
        return self.spec.task.labels

    @property
    def holdout(self) -> list:
        return [c for c in self.cases if c.split == "holdout"]

    @property
    def train(self) -> list:
        return [c for c in self.cases if c.split == "train"]

    def resolve(self, relative: str) -> Path:
        path = Path(relative).expanduser()
        return path if path.is_absolute() else self.folder / path

    def confined(self, relative: str, key: str) -> Path:
        """`resolve(relative)`, refused (BadInput naming `key` and the path) when it leads outside
        the suite's folder and the git work tree that holds it, unless the suite sets
        `allow_outside_paths: true`. Symbolic links are followed, and every file a glob
        matches is checked. A suite may come from someone else; the command line's paths are
        the user's own and never pass through here."""
        path = self.resolve(relative)
        if self.spec.allow_outside_paths:
            return path
        root = confinement_root(self.folder)
        if _has_magic(str(path)):
            import glob

            targets = [Path(p) for p in glob.glob(str(path), recursive=True)]
            static = Path(*[part for part in _static_prefix(path)])
            targets.append(static)
        else:
            targets = [path]
            if path.is_dir():
                targets += [p for p in path.rglob("*") if p.is_symlink()]
        for target in targets:
            resolved = target.resolve()
            if not resolved.is_relative_to(root):
                raise BadInput(f"{key} {relative!r} leads outside the suite's folder and its git work tree ({root}) to "
                               f"{resolved}: suite files read only inside; set allow_outside_paths: true in the suite "
                               f"if you trust it", where=f"{self.path}: {key}")
        return path


def confinement_root(folder: Path) -> Path:
    """The git work tree holding `folder` (the nearest parent with a .git), else the folder."""
    folder = folder.resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return folder


def _has_magic(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _static_prefix(path: Path) -> list[str]:
    """The parts of a glob before its first wildcard."""
    parts = []
    for part in path.parts:
        if _has_magic(part):
            break
        parts.append(part)
    return parts or ["."]


def _known_keys() -> set[str]:
    keys: set[str] = set()
    for model in (Suite, Task, Examples, Retrieval, Route, HttpRoute, HttpResponsePaths, Defaults, Price, CaseSource,
                  *POLICY_MODELS):
        keys.update(model.model_fields)
    return keys


def _explain(error: Mapping[str, Any]) -> str:
    loc = ".".join(str(part) for part in error["loc"] if not str(part).startswith(("function-", "union[")))
    if error["type"] == "extra_forbidden":
        key = str(error["loc"][-1])
        near = difflib.get_close_matches(key, _known_keys(), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        return f"unknown key {loc!r}{hint}"
    message = error["msg"].removeprefix("Value error, ")
    return f"{loc or 'suite'}: {message}"


def _loc_for_line(loc: tuple) -> tuple:
    return tuple(
        p
        for p in loc
        if not str(p).startswith(("function-", "union["))
        and p not in ("str", "CaseSource", "list[union[str,CaseSource]]")
    )


def parse_suite(data: Any, path: Path, line_of=lambda loc: None) -> Suite:
    if not isinstance(data, dict):
        raise BadInput("a suite file must be a mapping of keys (name, task, cases, routes, ...)", where=str(path))
    try:
        return Suite.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        line = line_of(_loc_for_line(first["loc"]))
        where = f"{path}:{line}" if line else str(path)
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise BadInput(_explain(first) + suffix, where=where) from None


def load_suite(path: str | Path) -> LoadedSuite:
    """Read and validate a suite file, its output schema and its cases."""
    from evalkit.cases import load_cases, validate_cases
    from evalkit.yamlfile import load_with_lines, read_text

    path = Path(path)
    data, line_of = load_with_lines(path, "suite file")
    spec = parse_suite(data, path, line_of)
    suite = LoadedSuite(path=path, spec=spec, cases=[], output_schema=None,
                        sha256=hashlib.sha256(read_text(path).encode()).hexdigest(), cases_sha256="")
    suite.output_schema = _load_output_schema(suite)
    _check_scored_fields(suite)
    sources = spec.cases if isinstance(spec.cases, list) else [spec.cases]
    for source in sources:
        if isinstance(source, str):
            source = CaseSource(path=source)
        suite.cases.extend(
            load_cases(suite.confined(source.path, "cases"), fmt=source.format, label_field=source.label_field)
        )
    # the hash covers the loaded cases, so a file that an imported config pulls in counts too
    suite.cases_sha256 = cases_digest(suite.cases)
    validate_cases(suite)
    if spec.corpus:
        suite.corpus_path = suite.confined(spec.corpus, "corpus")
    return suite


def cases_digest(cases: list) -> str:
    """SHA-256 over every case's JSON (`model_dump_json()`, one after the other), through the
    model's serializer directly: the same bytes, without the wrapper's cost per case."""
    from evalkit.cases import Case

    to_json = Case.__pydantic_serializer__.to_json
    digest = hashlib.sha256()
    for case in cases:
        digest.update(to_json(case) if type(case) is Case else case.model_dump_json().encode())
    return digest.hexdigest()


def _load_output_schema(suite: LoadedSuite) -> dict[str, Any] | None:
    schema = suite.spec.task.output_schema
    if isinstance(schema, str):
        from evalkit.yamlfile import load_with_lines

        source = schema
        schema, _ = load_with_lines(suite.confined(source, "task.output_schema"), "output schema")
        if not isinstance(schema, dict):
            raise BadInput("an output schema must be a JSON object", where=str(suite.resolve(source)))
    if schema is not None and suite.spec.task.output_format == "json" and suite.spec.task.label_field:
        _check_label_field(schema, suite.spec.task.label_field, suite.path)
    if schema is not None:
        from jsonschema import SchemaError, validators

        try:
            validators.validator_for(schema).check_schema(schema)
        except SchemaError as exc:
            raise BadInput(
                f"output_schema is not a valid JSON Schema: {exc.message}", where=f"{suite.path}: task.output_schema"
            ) from None
    return schema


def schema_lookup(schema: dict[str, Any] | None, path: str) -> tuple[dict[str, Any] | None, str | None, list[str]]:
    """Where a dot path of the output sits in an object schema: (its subschema, None, []) when
    every level declares it; (None, the missing name, the level's property names) when a level
    lists its properties and not this one; (None, None, []) when a level is free-form (it lists
    none, so any name is allowed)."""
    current: Any = schema
    for part in path.split("."):
        properties = current.get("properties") if isinstance(current, dict) else None
        if not isinstance(properties, dict) or not properties:
            return None, None, []
        if part not in properties:
            return None, part, sorted(properties)
        current = properties[part]
    return (current if isinstance(current, dict) else None), None, []


def _check_scored_fields(suite: LoadedSuite) -> None:
    """Every scored field is a field of the output schema, and an ordinal order covers its enum."""
    schema = suite.output_schema
    for name, field_spec in suite.spec.task.fields.items():
        where = f"{suite.path}: task.fields.{name}"
        found, missing, _ = schema_lookup(schema, name)
        if schema is not None and missing is not None:
            known = _schema_paths(schema)
            near = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else f" (the schema's fields: {', '.join(known) or 'none'})"
            raise BadInput(f"scored field {name!r} is not in the output schema{hint}", where=where)
        enum = (found or {}).get("enum")
        if field_spec.type == "ordinal" and enum and set(enum) != set(field_spec.order or []):
            raise BadInput(f"the order {field_spec.order} does not list the schema's values {enum}", where=where)
        if field_spec.type == "label" and field_spec.labels is None:
            if not enum:
                raise BadInput("a label field needs its labels: list them, or give the schema an enum", where=where)
            field_spec.labels = list(enum)


def _schema_paths(schema: dict[str, Any], prefix: str = "") -> list[str]:
    paths = []
    for key, sub in (schema.get("properties") or {}).items():
        paths.append(prefix + key)
        if isinstance(sub, dict):
            paths += _schema_paths(sub, prefix + key + ".")
    return paths


def _check_label_field(schema: dict[str, Any], label_field: str, where: Path) -> None:
    """The label field's dot path must be an object property the output schema allows: otherwise
    every answer that follows the schema fails to give a label. A free-form level allows any name."""
    _, missing, known = schema_lookup(schema, label_field)
    if missing is not None:
        raise BadInput(f"task.label_field {label_field!r}: the output schema has no property {missing!r} "
                       f"(it has {', '.join(known)})", where=f"{where}: task.label_field")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
