"""Request fingerprints: what was asked, of which model, as one SHA-256.

`request_sha256` is the SHA-256 of the canonical JSON (sorted keys, no spaces) of the request
document: the provider and model the suite configures, a `base_url` written in the suite, the
messages after rendering (system prompt, few-shot examples and retrieved context included, as
they are sent) and every parameter that can change the answer (temperature, max_tokens, seed,
the output schema that becomes a response format or a forced tool, structured on or off, and
whatever else a route's `params` adds). The per-call timeout is left out, and so is an
endpoint taken from the environment (`OPENAI_BASE_URL` and the like), the key and every
header: a recording made against one endpoint verifies in CI without it.

Beside the whole, each row keeps a short hash of each part (`PARTS`), so a recording made for
another request can say which part changed. The fingerprint describes the request to the
*configured* model, whoever answered it: an offline stand-in's row carries the fingerprint of
the request its route would have sent, which is what a replay compares against.

One `Fingerprinter` per route serialises the route's fixed parts once; a call's fingerprint is
computed when it is first needed, so planning a large suite stays cheap.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from evalkit.suite import canonical_json

#: the parts of a request whose hashes a row keeps, in the order a stale row names them
PARTS = ("model", "system", "messages", "examples", "context", "params")
#: request parameters that cannot change the answer
NOT_IN_FINGERPRINT = frozenset({"timeout_s"})
_PART_CHARS = 16


@dataclass(frozen=True, slots=True)
class Fingerprint:
    sha256: str
    parts: dict[str, str]


def _short(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:_PART_CHARS]


def answer_params(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters that can change the answer."""
    return {k: v for k, v in params.items() if k not in NOT_IN_FINGERPRINT}


def request_document(
    *,
    provider: str,
    model: str,
    base_url: str | None,
    messages: list[dict[str, Any]],
    params: dict[str, Any],
    schema: Any,
    material: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The canonical request (the reference definition of what `request_sha256` hashes)."""
    document = {
        "provider": provider,
        "model": model,
        "base_url": base_url,
        "messages": messages,
        "params": answer_params(params),
        "schema": schema,
    }
    if material:
        document["material"] = material
    return document


class Fingerprinter:
    """The fingerprints of one route's requests. `material` is what else a provider declares
    decides its answers (Provider.fingerprint_material: a python: route's source hash, an http:
    route's request template); it counts as part of the model."""

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        base_url: str | None,
        params: dict[str, Any],
        schema: Any,
        material: dict[str, Any] | None = None,
    ):
        self.provider, self.model, self.base_url = provider, model, base_url
        self.params, self.schema, self.material = answer_params(params), schema, material or {}
        model_part = canonical_json(
            {"provider": provider, "model": model, "base_url": base_url, "material": self.material}
        )
        params_part = canonical_json({"params": self.params, "schema": schema})
        self._fixed_parts = {"model": _short(model_part), "params": _short(params_part)}
        # the document's keys in sorted order: base_url, [material,] messages, model, params, provider, schema
        head = {"base_url": base_url, **({"material": self.material} if self.material else {})}
        self._head = canonical_json(head)[:-1] + ',"messages":'
        rest = {"model": model, "params": self.params, "provider": provider, "schema": schema}
        self._tail = "," + canonical_json(rest)[1:]
        self._examples: dict[int, tuple[Any, str]] = {}  # id -> (example, its canonical JSON): a pool's few repeat

    def document(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return request_document(
            provider=self.provider,
            model=self.model,
            base_url=self.base_url,
            messages=messages,
            params=self.params,
            schema=self.schema,
            material=self.material,
        )

    def of(
        self, messages: list[dict[str, Any]], examples: list[Any] | None = None, context: list[str] | None = None
    ) -> Fingerprint:
        encoded = [canonical_json(m) for m in messages]
        whole = self._head + "[" + ",".join(encoded) + "]" + self._tail
        system = [text for m, text in zip(messages, encoded) if m.get("role") == "system"]
        others = [text for m, text in zip(messages, encoded) if m.get("role") != "system"]
        parts = {
            "model": self._fixed_parts["model"],
            "system": _short("[" + ",".join(system) + "]"),
            "messages": _short("[" + ",".join(others) + "]"),
            "examples": _short("[" + ",".join([self._example_json(e) for e in examples or []]) + "]"),
            "context": _short(canonical_json(list(context or []))),
            "params": self._fixed_parts["params"],
        }
        return Fingerprint(hashlib.sha256(whole.encode("utf-8")).hexdigest(), parts)


    def _example_json(self, example: Any) -> str:
        """`canonical_json(_example(example))`, kept per example (the list's JSON is its items'
        JSON joined by commas, as canonical_json writes a list)."""
        known = self._examples.get(id(example))
        if known is not None and known[0] is example:
            return known[1]
        text = canonical_json(_example(example))
        if hasattr(example, "id") and len(self._examples) < 100_000:  # a case of the pool (plain data may change)
            self._examples[id(example)] = (example, text)
        return text


def _example(example: Any) -> Any:
    """A few-shot example as the fingerprint sees it: its id, input and expected answer."""
    if hasattr(example, "id"):
        return {
            "id": example.id,
            "input": getattr(example, "input", None),
            "expected": getattr(example, "expected", None),
        }
    return example


def changed_parts(recorded: dict[str, Any] | None, current: dict[str, Any]) -> list[str]:
    """The parts whose hashes differ, in `PARTS` order; ["request"] when the recording kept none."""
    if not recorded:
        return ["request"]
    return [part for part in PARTS if recorded.get(part) != current.get(part)] or ["request"]
