"""evalkit: an eval-first harness for deciding whether a fine-tune bought anything.

The public API is loaded lazily so that `evalkit --version` never imports pandas,
scikit-learn or the provider SDKs.
"""

__version__ = "0.1.0"

_API = {
    "load_suite": "evalkit.suite",
    "run_suite": "evalkit.runner",
    "score_run": "evalkit.runner",
    "load_run": "evalkit.store",
    "results_frame": "evalkit.frames",
    "metrics_frame": "evalkit.frames",
    "summarize": "evalkit.metrics",
    "evaluate_gate": "evalkit.gate",
    "load_policy": "evalkit.policy",
}

__all__ = ["__version__", *_API]


def __getattr__(name):
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'evalkit' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
