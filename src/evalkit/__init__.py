"""evalkit: an eval-first harness for deciding whether a fine-tune bought anything.

The public API is loaded lazily so that `evalkit --version` never imports pandas,
scikit-learn or the provider SDKs.
"""

__version__ = "0.1.0"

_API = {
    "load_suite": "evalkit.suite",
    "run_suite": "evalkit.runner",
    "RunOptions": "evalkit.runner",
    "render_requests": "evalkit.planning",
    "record_run": "evalkit.recording",
    "score_run": "evalkit.runner",
    "load_run": "evalkit.store",
    "results_frame": "evalkit.frames",
    "metrics_frame": "evalkit.frames",
    "summarize": "evalkit.metrics",
    "compare_routes": "evalkit.compare:compare",  # not `compare`: that name is the submodule's
    "evaluate_gate": "evalkit.gate",
    "load_policy": "evalkit.policy",
    "make_packet": "evalkit.packet",
    "write_packet": "evalkit.packet",
}

__all__ = ["__version__", *_API]


def __getattr__(name):
    target = _API.get(name)
    if target is None:
        raise AttributeError(f"module 'evalkit' has no attribute {name!r}")
    import importlib

    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute or name)
