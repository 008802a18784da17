"""Keep API keys off disk.

Every key a run uses is remembered here (`remember`), and everything evalkit writes into a
run directory, the cache or an error message goes through `scrub`, which removes the key
in any form a library or server may have quoted it in: as is, as Python's repr of the str or
of its bytes, JSON-escaped, percent-encoded, and each of those JSON-escaped once more (a
message inside a stored row). A key is also removed without surrounding whitespace or
control characters, the part a careless `.env` file adds.
"""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

MASK = "***"
#: shorter values are not scrubbed: they would mangle ordinary text
MIN_LENGTH = 6


def _inner(text: str, start: int = 1) -> str:
    return text[start:-1]


def escaped_forms(secret: str) -> set[str]:
    """The ways `secret` may appear in text: raw, repr, bytes repr, JSON, percent-encoded,
    and the JSON escape of each of those."""
    forms: set[str] = set()
    for value in {secret, secret.strip()}:
        if len(value) < MIN_LENGTH:
            continue
        first = {value, _inner(repr(value)), _inner(repr(value.encode("utf-8", "backslashreplace")), 2),
                 _inner(json.dumps(value)), _inner(json.dumps(value, ensure_ascii=False)),
                 quote(value, safe=""), quote(value), quote_plus(value)}
        forms |= first
        forms |= {_inner(json.dumps(form)) for form in first}
    return forms


class Scrubber:
    """Replaces every known key, in every escaped form, by `***`."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self.forms: tuple[str, ...] = ()

    def add(self, secret: str | None) -> None:
        if not secret or secret in self._secrets:
            return
        self._secrets.add(secret)
        forms = set(self.forms) | escaped_forms(secret)
        self.forms = tuple(sorted(forms, key=len, reverse=True))  # the longest form first

    def scrub(self, text: str) -> str:
        for form in self.forms:
            if form in text:
                text = text.replace(form, MASK)
        return text


_KNOWN = Scrubber()


def remember(secret: str | None) -> None:
    """Scrub this key from everything this process writes from now on."""
    _KNOWN.add(secret)


def scrub(text: str) -> str:
    """`text` without any key this process has used."""
    return _KNOWN.scrub(text) if _KNOWN.forms else text


def control_character_problem(value: str) -> str | None:
    """Why a key's value cannot go into an HTTP header, or None when it can."""
    if value != value.strip():
        where = "trailing" if value.rstrip() != value else "leading"
        return (f"the value has a {where} control character or space "
                "(a \\r or \\n, as a key copied from a Windows-style .env file has)")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return "the value contains a control character"
    return None
