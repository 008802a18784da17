"""Keep API keys off disk: every key the run uses is scrubbed from whatever evalkit writes."""

from __future__ import annotations


class Scrubber:
    def __init__(self) -> None:
        self.forms: list[str] = []

    def add(self, secret: str | None) -> None:
        if secret:
            self.forms.append(secret)

    def scrub(self, text: str) -> str:
        for form in self.forms:
            text = text.replace(form, "***")
        return text
