"""Keep the garbage collector's full passes off the objects that live as long as a run
(collector_paused while the suite loads and the calls are planned, long_lived_objects_frozen
around the run, freeze_more for what it sets up later)."""

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


class _Pause:
    def __init__(self) -> None:
        import gc

        self.was_enabled = gc.isenabled()
        self.paused = self.was_enabled

    def resume(self) -> None:
        """Turn the collector back on (if it was on before), e.g. once the planned objects are frozen."""
        import gc

        if self.paused:
            self.paused = False
            gc.enable()


@contextmanager
def collector_paused():
    """No garbage collection while a suite is loaded and its calls are planned: everything made
    then (20,000 cases, 40,000 planned calls) lives as long as the run, yet each full pass of
    the collector walked all of it, about half of the planning time. `resume()` turns it back
    on earlier; leaving the block does in any case. A collector someone else turned off stays off."""
    import gc

    pause = _Pause()
    if pause.paused:
        gc.disable()
    try:
        yield pause
    finally:
        pause.resume()
