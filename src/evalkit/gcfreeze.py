"""Keep the garbage collector's full passes off the objects that live as long as a run
(pause_collection from start-up until the calls start: the suite, the plan, the SDK's import;
long_lived_objects_frozen around the run; freeze_more for what it sets up later)."""

from __future__ import annotations

from contextlib import contextmanager

_FREEZING = False


@contextmanager
def long_lived_objects_frozen():
    """Keep the garbage collector's full passes off the objects that live as long as the run
    (the suite, its cases, every planned call, the SDK): they never become garbage before it
    ends, yet each full pass walked all of them, about a tenth of a 12,320-call run's CPU.
    Left alone when something else already froze objects (gc.freeze is process-wide)."""
    global _FREEZING
    import gc

    if gc.get_freeze_count() or _FREEZING:
        yield
        return
    _FREEZING = True
    gc.freeze()
    try:
        yield
    finally:
        _FREEZING = False
        gc.unfreeze()


def freeze_more() -> None:
    """Add the objects made since to the frozen ones, inside long_lived_objects_frozen."""
    if _FREEZING:
        import gc

        gc.freeze()


_PAUSED = False


def pause_collection() -> None:
    """No garbage collection from here until `resume_collection` (the CLI's `run`: until the
    calls start). Start-up makes long-lived objects and little garbage (modules, the SDK's
    classes, the suite, the plan), yet the collections its allocations trigger walked every
    object made so far: about a tenth of the time `import anthropic` takes."""
    global _PAUSED
    import gc

    if gc.isenabled():
        gc.disable()
        _PAUSED = True


def resume_collection() -> None:
    """End `pause_collection` (again: nothing). Inside long_lived_objects_frozen, what start-up
    made is frozen first, so later collections never walk it."""
    global _PAUSED
    if _PAUSED:
        import gc

        _PAUSED = False
        freeze_more()
        gc.enable()
