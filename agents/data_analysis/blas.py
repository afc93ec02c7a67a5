"""The BLAS thread count of the agent process, set once at startup from the main thread."""

from __future__ import annotations

import os
import sys

# statsmodels' fits multiply small matrices thousands of times; a second OpenBLAS thread only adds
# hand-off and spin-waiting, and on a busy 2-core machine it made them several times slower
# (docs/performance.md, predict). A limit must be process-wide and set from the main thread: set
# from the worker thread a request runs in, OpenBLAS kept using two threads (measured: the same
# 2 s choice took 15 s at CPU/wall 0.9 with the limit taken in the worker, 2 s with it at startup).
_ENV = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def limit_process(threads: int) -> None:
    """Use at most `threads` BLAS threads (0 leaves the library's default).

    Before numpy is imported the environment does it (read when OpenBLAS loads); if numpy is
    already loaded (tests, `spotrun dev` running agents in one process) threadpoolctl does.
    A value the operator set in the environment wins.
    """
    if threads <= 0:
        return
    for name in _ENV:
        os.environ.setdefault(name, str(threads))
    if "numpy" in sys.modules or "scipy" in sys.modules:
        from threadpoolctl import threadpool_limits

        wanted = int(os.environ["OPENBLAS_NUM_THREADS"])
        threadpool_limits(limits=wanted, user_api="blas")  # process-wide, kept for the process' life
