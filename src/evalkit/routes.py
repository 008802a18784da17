"""Routes turn a case into the messages a provider receives.

Templates are Jinja2 (sandboxed, undefined names are errors). A case's own text is
passed as data and never rendered as a template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from evalkit.cases import Case, Message, expected_label, input_text
from evalkit.errors import BadInput
from evalkit.suite import LoadedSuite, Route

DEFAULT_PROMPT = "{{ input }}"


class InputFields(dict):
    """An object input: fields by name in templates, `key: value` lines as `{{ input }}`."""

    def __str__(self) -> str:
        return input_text(dict(self))


@dataclass(slots=True)
class RenderedRequest:
    """What a route sends for one case."""

    messages: list[dict[str, str]]
    examples: list[Case] = field(default_factory=list)
    retrieved: list[str] | None = None
    context: list[str] = field(default_factory=list)


def _environment():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


def serialise_expected(case: Case, suite: LoadedSuite) -> str:
    """The gold answer as the model should write it: JSON in json mode, the label in text mode."""
    task = suite.spec.task
    if task.output_format == "text":
        return str(expected_label(case, task.label_field))
    if isinstance(case.expected, dict):
        return json.dumps(case.expected, ensure_ascii=False)
    assert task.label_field is not None  # json mode requires it (Task's validator)
    nested: Any = case.expected
    for part in reversed(task.label_field.split(".")):
        nested = {part: nested}
    return json.dumps(nested, ensure_ascii=False)


def format_examples(examples: list[Case], suite: LoadedSuite, shown: dict[str, str] | None = None) -> str:
    """The few-shot block; `shown` keeps each example's text by case id, for reuse across cases."""
    shown = {} if shown is None else shown
    blocks = []
    for i, case in enumerate(examples, start=1):
        body = shown.get(case.id)
        if body is None:
            body = shown[case.id] = f"Input:\n{case.text()}\nOutput:\n{serialise_expected(case, suite)}"
        blocks.append(f"Example {i}\n{body}")
    return "\n\n".join(blocks)


def format_context(chunks) -> str:
    return "\n\n".join(f"[{chunk.id}]\n{chunk.text}" for chunk in chunks)


class RoutePlan:
    """One route, ready to render requests: compiled templates, example pool, retriever."""

    def __init__(self, name: str, route: Route, suite: LoadedSuite, retriever=None):
        from jinja2 import TemplateSyntaxError, meta

        self.name, self.route, self.suite = name, route, suite
        env = _environment()
        self._used: set[str] = set()
        self._templates = {}
        # the default prompt renders the input as it is: str(input), without a template render per call
        self._plain_prompt = (route.prompt or DEFAULT_PROMPT) == DEFAULT_PROMPT
        for part in ("system", "prompt"):
            source = getattr(route, part) if part == "system" else (route.prompt or DEFAULT_PROMPT)
            if source is None:
                continue
            try:
                self._used |= meta.find_undeclared_variables(env.parse(source))
                template = env.from_string(source)
                # a plain dict, not Jinja's ChainMap of globals: every render copies it into its
                # context, and copying a ChainMap cost more than the rest of the render
                template.globals = dict(template.globals)
                self._templates[part] = template
            except TemplateSyntaxError as exc:
                raise BadInput(
                    f"route {name!r}: {part} template: {exc.message} (template line {exc.lineno})",
                    where=str(suite.path),
                ) from None
        self.retriever = retriever
        self._examples = ExamplePicker(name, route, suite) if route.kind == "prompted" or route.examples else None
        self._shown: dict[str, str] = {}  # example case id -> its text in the few-shot block
        self._known = {"labels", "label_descriptions", "input", *env.globals}
        if self._examples is not None:
            self._known.add("examples")
        if retriever is not None:
            self._known.add("context")
        self._last: tuple[Any, RenderedRequest] | None = None

    def needs_fields(self) -> bool:
        """The templates name input fields (which some case might lack)."""
        return bool(self._used - self._known)

    def check(self, case: Case) -> None:
        """Stop (BadInput) when a template needs a field this case lacks. Only a case that lacks
        a name the templates use is rendered to find out (the name may sit behind `is defined`)."""
        missing = self._used - self._known
        if not missing:
            return
        fields = case.input if isinstance(case.input, dict) else {}
        if any(name not in fields for name in missing):
            self.render_once(case)

    def render_once(self, case: Case) -> RenderedRequest:
        """`render(case)`, kept for the next call of the same case (its repeats)."""
        last = self._last
        if last is not None and last[0] is case:
            return last[1]
        rendered = self.render(case)
        self._last = (case, rendered)
        return rendered

    def render(self, case: Case) -> RenderedRequest:
        from jinja2 import TemplateError

        rendered = RenderedRequest(messages=[])
        values: dict[str, Any] = {
            "labels": self.suite.labels,
            "label_descriptions": self.suite.spec.task.label_descriptions,
        }
        if isinstance(case.input, dict):
            values.update(case.input)
            values["input"] = InputFields(case.input)
        else:
            values["input"] = case.text()
        extra_system = []
        if self._examples is not None:
            rendered.examples = self._examples.pick(case)
            values["examples"] = format_examples(rendered.examples, self.suite, self._shown)
            if "examples" not in self._used and rendered.examples:
                extra_system.append("Examples:\n\n" + values["examples"])
        if self.retriever is not None:
            retrieval = self.route.retrieval
            assert retrieval is not None  # a retriever is made only for a route with retrieval
            chunks = self.retriever.search(case.text(), retrieval.k)
            rendered.retrieved = [c.id for c in chunks]
            rendered.context = [c.text for c in chunks]
            values["context"] = format_context(chunks)
            if "context" not in self._used:
                extra_system.append("Reference documents:\n\n" + values["context"])
        try:
            texts = {
                part: str(values["input"]) if part == "prompt" and self._plain_prompt else template.render(values)
                for part, template in self._templates.items()
            }
        except TemplateError as exc:
            raise BadInput(
                f"route {self.name!r}, case {case.id!r}: template error: {exc.message}", where=str(self.suite.path)
            ) from None
        except Exception as exc:  # noqa: BLE001 - an expression that fails ({{ 1/0 }}, a bad filter argument)
            raise BadInput(
                f"route {self.name!r}, case {case.id!r}: template error: {type(exc).__name__}: {exc}",
                where=str(self.suite.path),
            ) from None
        system = "\n\n".join(part for part in [texts.get("system", ""), *extra_system] if part)
        if system:
            rendered.messages.append({"role": "system", "content": system})
        if isinstance(case.input, list) and self.route.prompt is None:
            rendered.messages.extend(
                {"role": m.role, "content": m.content} for m in case.input if isinstance(m, Message)
            )
        else:
            rendered.messages.append({"role": "user", "content": texts["prompt"]})
        return rendered


class ExamplePicker:
    """Few-shot examples from the train split: fixed ids, stratified by label, or most similar."""

    def __init__(self, route_name: str, route: Route, suite: LoadedSuite):
        from evalkit.suite import Examples

        self.config = route.examples or Examples()
        self.pool = suite.train
        label_field = suite.spec.task.label_field
        if self.config.k and not self.pool and self.config.strategy != "fixed":
            raise BadInput(
                f"route {route_name!r} needs few-shot examples but the suite has no train cases", where=str(suite.path)
            )
        self._fixed: list[Any] | None
        if self.config.strategy == "fixed":
            by_id = {c.id: c for c in self.pool}
            missing = [i for i in self.config.ids if i not in by_id]
            if missing:
                raise BadInput(
                    f"route {route_name!r}: example ids not among the train cases: {', '.join(missing)}",
                    where=str(suite.path),
                )
            self._fixed = [by_id[i] for i in self.config.ids]
        elif self.config.strategy == "stratified":
            self._fixed = self._stratified(label_field)
        else:
            from evalkit.tfidf import TfidfIndex

            self._fixed = None
            self._index = TfidfIndex([c.text() for c in self.pool])

    def _stratified(self, label_field: str | None) -> list[Case]:
        by_label: dict[str, list[Case]] = {}
        for case in sorted(self.pool, key=lambda c: c.id):
            by_label.setdefault(expected_label(case, label_field), []).append(case)
        queues = [by_label[label] for label in sorted(by_label)]
        picked: list[Case] = []
        depth = 0
        while len(picked) < self.config.k and any(depth < len(q) for q in queues):
            picked.extend(q[depth] for q in queues if depth < len(q) and len(picked) < self.config.k)
            depth += 1
        return picked

    def pick(self, case: Case) -> list[Case]:
        if self._fixed is not None:
            return self._fixed
        return [self.pool[i] for i in self._index.top(case.text(), self.config.k)]
