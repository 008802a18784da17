"""Every error evalkit raises on purpose, in one tree, each with the exit code the CLI maps it to.

* `EvalkitError` (exit 1): an error the user can act on; printed as one line, no traceback.
  * `BadInput` (exit 2): bad arguments, configuration or data; nothing was called.
    * `LeakageFound`: holdout cases sit in the training data (`ft export` without --allow-leakage).
    * `LaunchRefused`: a provider refused a fine-tuning request (not allowed, bad file).
  * `RunIncomplete` (exit 3): the run stopped early or has too many error rows.
    * `ProviderUnreachable`: no answer, or a server error, from a provider outside a run.
  * `ProviderError` (exit 1 if it ever reaches the CLI): one call that returned no output. Inside
    a run it never does: the executor retries the retryable ones and writes the rest as error rows.
"""

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


class LeakageFound(BadInput):
    """Holdout cases also sit in the training data: exit 2 unless --allow-leakage."""


class LaunchRefused(BadInput):
    """The provider refused a fine-tuning request (not allowed, model not offered, bad file). Exit 2."""

    def __init__(self, message: str, *, where: str | None = None):
        super().__init__(message, where=where)


class ProviderUnreachable(RunIncomplete):
    """No answer, or a server error, from the provider (fine-tuning, batch status). Exit 3."""


class ProviderError(EvalkitError):
    """A call that returned no output. `retryable` errors are retried by the runner, a
    `rate_limit` error is waited out (`--max-wait`), a `quota` error stops the run; the rest
    become error rows carrying `type` and `message`. `rate_limits` are the answer's rate-limit
    headers (evalkit.pacing)."""

    def __init__(self, type: str, message: str, *, retryable: bool = False, status: int | None = None,
                 retry_after_s: float | None = None, rate_limits: dict | None = None):
        super().__init__(message)
        self.type, self.message = type, message
        self.retryable, self.status, self.retry_after_s = retryable, status, retry_after_s
        self.rate_limits = rate_limits
