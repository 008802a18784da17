"""Exceptions that the CLI maps to exit codes (DESIGN sections 6 and 8)."""

from __future__ import annotations


class EvalkitError(Exception):
    """An error the user can act on: printed as one line, no traceback."""

    exit_code = 1


class BadInput(EvalkitError):
    """Bad arguments, config or data: nothing was called. Exit 2."""

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None):
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class RunIncomplete(EvalkitError):
    """The run stopped early or has too many error rows. Exit 3."""

    exit_code = 3
