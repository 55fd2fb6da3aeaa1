"""Process pools whose workers never outlive the process that started them.

A killed parent (SIGKILL, an OOM kill) cannot shut its pool down, and spawned workers would be
reparented to init and idle on. Every pool romanus starts asks the kernel (Linux
``PR_SET_PDEATHSIG``) to send each worker SIGTERM when its parent dies; elsewhere the workers
check the parent's pid instead.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

__all__ = ["worker_pool"]

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _die_with_parent(parent: int) -> None:
    """Pool initializer: end this worker when ``parent`` ends."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: fall back to polling
            threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    else:  # pragma: no cover
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A spawn-context process pool (safe with torch and threads in the parent) whose workers
    end when this process ends, however it ends."""
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=mp.get_context("spawn"),
        initializer=_die_with_parent,
        initargs=(os.getpid(),),
    )
