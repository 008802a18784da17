"""Training-file formats: how an example is written, checked and read back as chat messages.

A format is a small class (subclass `Format`) registered under the `evalkit.ft_formats`
entry-point group; the built-ins are registered there the same way a plugin is, and the
table below only serves a source tree that was never installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

ENTRY_POINT_GROUP = "evalkit.ft_formats"



@dataclass(frozen=True, slots=True)
class TrainingExample:
    """One case as a route renders it: the prompt messages and the answers to learn."""

    case_id: str
    prompt: list[dict[str, str]]  # system and user messages (and earlier turns), as inference sends them
    completion: str  # the expected output, serialised as the output schema wants
    rejected: str | None = None  # a worse answer, for preference formats
    reference: dict[str, Any] | None = None  # the expected answer's fields, for a reinforcement grader


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with one example of a training file."""

    kind: str  # e.g. missing_content, the cookbook notebook's names where it has one
    message: str
    severity: Literal["error", "warning"] = "error"


class Format:
    """Base class of a training-file format."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: True when an example needs a rejected answer (preference tuning)
    needs_rejected: ClassVar[bool] = False
    #: the training method a launcher should ask for: "supervised", "dpo" or "reinforcement"
    method: ClassVar[str] = "supervised"
    #: True when an example carries the expected answer as reference fields for a grader
    needs_reference: ClassVar[bool] = False
    #: True when the format's jobs need a validation file
    needs_validation: ClassVar[bool] = False
    #: formats are tried in this order to guess a file's format: a shape that is a special case
    #: of another (a chat line with reference fields) goes first, a shape that cannot be told
    #: apart from a more common one (Hugging Face chat from OpenAI chat) last
    detect_order: ClassVar[int] = 0

    def render(self, example: TrainingExample) -> dict[str, Any]:
        """The JSON object of one line of the training file."""
        raise NotImplementedError

    def check(self, record: Any) -> list[Problem]:
        """Format errors (and format-specific warnings) of one line's parsed JSON."""
        raise NotImplementedError

    def check_file(self, records: list[tuple[int, Any]]) -> list[tuple[int, Problem]]:
        """Problems across lines, as (line, problem); only lines `check` found no error in."""
        return []

    def messages(self, record: Any) -> list[dict[str, Any]]:
        """The example as chat messages (role, content), for token counts; called only when check found no error."""
        raise NotImplementedError

    def matches(self, record: Any) -> bool:
        """Whether a record looks like this format (to guess a file's format)."""
        return False


def format_names() -> list[str]:
    from evalkit.plugins import names

    return names(ENTRY_POINT_GROUP)


def get_format(name: str) -> Format:
    """An instance of the format registered under `name`."""
    from evalkit.plugins import load

    fmt: Format = load(ENTRY_POINT_GROUP, name, what="fine-tune format")()
    return fmt


def detect_format(record: Any) -> Format | None:
    """The format whose shape the record has, the most specific first (`detect_order`)."""
    formats = sorted((get_format(name) for name in format_names()), key=lambda fmt: (fmt.detect_order, fmt.name))
    return next((fmt for fmt in formats if fmt.matches(record)), None)
