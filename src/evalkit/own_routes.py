"""What `python:` and `http:` routes share: reading what a team's own pipeline returned (text,
or an object with `output`, tokens, model, cost and the documents it retrieved), dotted paths
into a response, and the row fields such a route adds.

A route that retrieves for itself reports `retrieved` as a list of `{id, score, text}` (or of
ids). The row's `retrieved` holds the ids in rank order, so recall@k and MRR are computed
exactly as for evalkit's own retriever (a document id, or `DOC#N` for a chunk of DOC);
`retrieved_scores` keeps the scores. The texts are not stored in the row.
"""

from __future__ import annotations

import json
import re
from typing import Any

from evalkit.providers.base import ProviderError, ProviderResponse
from evalkit.rows import Row

_MISSING = object()
_INDEX = re.compile(r"\[(\d+)\]")
EXCERPT_CHARS = 300


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "…"


def split_path(path: str) -> list[str]:
    """`a.b[0].c` or `a.b.0.c` -> ["a", "b", "0", "c"]."""
    return [part for part in _INDEX.sub(r".\1", path).split(".") if part != ""]


def dig(document: Any, path: str) -> Any:
    """The value at a dotted path (list items by index, negative allowed); `_MISSING` when nothing matches."""
    node = document
    for part in split_path(path):
        if isinstance(node, dict):
            if part not in node:
                return _MISSING
            node = node[part]
        elif isinstance(node, list):
            try:
                node = node[int(part)]
            except (ValueError, IndexError):
                return _MISSING
        else:
            return _MISSING
    return node


def found(value: Any) -> bool:
    return value is not _MISSING


def as_text(value: Any) -> str:
    """An output as the row's text: strings as they are, objects and lists as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _int_or_none(value: Any, name: str) -> int | None:
    if value is None or value is _MISSING:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ProviderError("bad_response", f"{name} must be a whole number, got {excerpt(repr(value), 80)}") from None


def _float_or_none(value: Any, name: str) -> float | None:
    if value is None or value is _MISSING:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ProviderError("bad_response", f"{name} must be a number, got {excerpt(repr(value), 80)}") from None


def read_retrieved(
    items: Any, *, id_key: str = "id", score_key: str = "score", text_key: str = "text"
) -> list[dict[str, Any]]:
    """A route's retrieved documents as [{id, score, text}] in rank order. Items are objects
    (keys given by dotted paths) or plain ids."""
    if items is None or items is _MISSING:
        return []
    if not isinstance(items, (list, tuple)):
        raise ProviderError(
            "bad_response", f"retrieved must be a list of {{id, score, text}}, got {type(items).__name__}"
        )
    documents: list[dict[str, Any]] = []
    for rank, item in enumerate(items, start=1):
        if isinstance(item, (str, int)) and not isinstance(item, bool):
            documents.append({"id": str(item), "score": None, "text": None})
            continue
        if not isinstance(item, dict) and hasattr(item, "__dict__"):
            item = vars(item)
        if not isinstance(item, dict):
            raise ProviderError("bad_response", f"retrieved item {rank} is neither an object nor an id")
        doc_id = dig(item, id_key)
        if doc_id is _MISSING or doc_id is None:
            raise ProviderError(
                "bad_response",
                f"retrieved item {rank} has no {id_key!r}: {excerpt(json.dumps(item, default=str), 120)}",
            )
        score = dig(item, score_key)
        text = dig(item, text_key)
        documents.append({"id": str(doc_id), "score": _float_or_none(score, "a retrieved score"),
                          "text": None if text is _MISSING or text is None else str(text)})
    return documents


def response_from_result(result: Any, *, model: str | None = None) -> ProviderResponse:
    """What a python: function returned, as a response: text, or a mapping (or object) with
    `output` and any of input_tokens, output_tokens, model, cost_usd, retrieved."""
    if isinstance(result, str):
        return ProviderResponse(text=result, model=model)
    if result is None:
        raise ProviderError(
            "bad_response", "the function returned None: return the output text, or an object with 'output'"
        )
    if isinstance(result, dict):
        fields = result
    elif hasattr(result, "output"):
        names = ("output", "input_tokens", "output_tokens", "model", "cost_usd", "retrieved")
        fields = {name: getattr(result, name) for name in names if hasattr(result, name)}
    else:
        raise ProviderError("bad_response", f"the function returned a {type(result).__name__}: return the output text, "
                                            f"or an object with 'output'")
    if fields.get("output") is None:
        raise ProviderError("bad_response", f"the function's result has no 'output': {excerpt(repr(result), 200)}")
    retrieved = fields.get("retrieved")
    return ProviderResponse(
        text=as_text(fields["output"]),
        model=str(fields["model"]) if fields.get("model") is not None else model,
        input_tokens=_int_or_none(fields.get("input_tokens"), "input_tokens"),
        output_tokens=_int_or_none(fields.get("output_tokens"), "output_tokens"),
        cost_usd=_float_or_none(fields.get("cost_usd"), "cost_usd"),
        retrieved=read_retrieved(retrieved) if retrieved is not None else None)


def add_own_fields(row: Row, response: ProviderResponse) -> None:
    """The row fields of a route that retrieves, prices or runs its own code."""
    if response.retrieved is not None:
        row["retrieved"] = [doc["id"] for doc in response.retrieved]
        row["retrieved_scores"] = [doc.get("score") for doc in response.retrieved]
    if response.cost_usd is not None:
        row["cost_usd"] = response.cost_usd
    if response.source_sha256 is not None:
        row["source_sha256"] = response.source_sha256


def case_view(case: Any) -> dict[str, Any]:
    """The case as a route's own code sees it: id, input, fields, tags and metadata. Never the
    expected answer or the gold sources: those judge the route."""
    if case is None:
        return {}
    raw = case.input
    if isinstance(raw, dict):
        fields = dict(raw)
        value: Any = dict(raw)
    elif isinstance(raw, list):
        value = [{"role": m.role, "content": m.content} for m in raw]
        fields = {}
    else:
        value = raw
        fields = {}
    return {"id": case.id, "input": value, "fields": fields, "text": case.text(), "tags": list(case.tags or []),
            "metadata": dict(getattr(case, "metadata", None) or {})}
