"""A StubServer responder that answers every request with the gold output of its case.

It finds the case by its text in the request's last user message (the case's own text is
never rendered as a template, so it reaches the request verbatim), which makes the
stub a perfect model for any suite: every row of a run against it must be correct.

    suite = load_suite("evals/support_triage.yaml")
    with StubServer(GoldResponder(suite)) as stub:
        ...
"""

from __future__ import annotations

from typing import Any


def _needle(case) -> str:
    """The longest piece of the case's own text, which the rendered prompt contains verbatim."""
    value = case.input
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        texts = [str(v) for v in value.values() if isinstance(v, (str, int, float))]
        return max(texts, key=len) if texts else ""
    contents: list[Any] = [
        getattr(m, "content", None) or (m.get("content") if isinstance(m, dict) else "") for m in value
    ]
    return max(contents, key=len) if contents else ""


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "".join(part.get("text", "") for part in content if isinstance(part, dict))
            return str(content or "")
    return ""


class GoldResponder:
    """`responder(kind, body) -> the gold output (JSON text in json mode, the label in text mode)`."""

    def __init__(self, suite, *, unknown: str = '{"error": "no case matches this request"}'):
        from evalkit.routes import serialise_expected

        pairs = [(_needle(case), serialise_expected(case, suite)) for case in suite.holdout]
        # longest first, so a case whose text contains another's wins
        self._pairs = sorted((p for p in pairs if p[0]), key=lambda p: len(p[0]), reverse=True)
        self.unknown = unknown
        self.misses = 0

    def __call__(self, kind: str, body: dict[str, Any]) -> str:
        text = _last_user_text(body)
        for needle, answer in self._pairs:
            if needle in text:
                return answer
        self.misses += 1
        return self.unknown
