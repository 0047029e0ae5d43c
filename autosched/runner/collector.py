"""Python's garbage collector kept from stalling the loop while 100,000 rows are loaded."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

__all__ = ["collector_paused"]


class _CollectorPause:
    """Pause Python's cyclic garbage collector for bulk loads; then freeze what they made.

    Loading 100,000 rows makes a million objects, and each full collection on the way scans
    them all while it holds the GIL: up to half a second in which the loop cannot run.
    Frozen, the loaded objects are left out of later collections (reference counting still
    frees them; what is cyclic garbage at that moment is kept, and full loads are rare: at
    start and after a database outage). Loads may overlap (the sync thread reads, the loop
    applies): the last one to end resumes the collector.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._resume = False
        self._freeze = False

    @contextlib.contextmanager
    def __call__(self, *, freeze: bool = True) -> Iterator[None]:
        """Pause the collector meanwhile; with ``freeze``, freeze what is alive at the end.

        Without it, what was made meanwhile must be gone by the end (freed by reference
        counting), as the status publisher's snapshot is: frozen, the cyclic garbage of that
        moment would be kept for good, and the publisher pauses every second or so.
        """
        with self._lock:
            if self._depth == 0:
                self._resume = gc.isenabled()
                self._freeze = False
                gc.disable()
            self._depth += 1
            self._freeze = self._freeze or freeze
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    if self._freeze:
                        gc.freeze()
                    if self._resume:
                        gc.enable()


#: Wrap a bulk load in ``with collector_paused():``.
collector_paused = _CollectorPause()
