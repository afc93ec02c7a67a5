"""The data-analysis agent's BLAS thread count: set once at startup, holding in request threads."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from agents.data_analysis import blas

# A fresh interpreter (numpy not yet loaded, as in the agent's container) builds the app, then
# does BLAS work in a worker thread, where `predict` runs (asyncio.to_thread), and reports it.
_CHILD = """
import json, threading
from agents.common import AgentSettings
from agents.data_analysis.app import build
build(AgentSettings(auth="none"))
seen = {}
def work():
    import numpy as np
    from threadpoolctl import threadpool_info
    a = np.ones((200, 200)); a @ a
    seen["threads"] = sorted({lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"})
t = threading.Thread(target=work); t.start(); t.join()
print(json.dumps(seen))
"""


def child_threads(**env: str) -> list[int]:
    clean = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return list(json.loads(out.stdout.strip().splitlines()[-1])["threads"])


def test_the_agent_runs_blas_on_one_thread_from_startup() -> None:
    assert child_threads() == [1]


def test_the_setting_and_the_environment_can_raise_it() -> None:
    assert child_threads(SPOTRUN_ANALYSIS_BLAS_THREADS="2") == [2]
    assert child_threads(OPENBLAS_NUM_THREADS="2") == [2]  # what the operator set wins


def test_the_limit_applies_when_numpy_is_already_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy  # noqa: F401 (loaded before the limit, as in tests or one-process dev runs)

    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    with threadpool_limits(limits=2, user_api="blas"):  # a known start; restored on leaving
        blas.limit_process(1)
        assert {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"} == {1}
        blas.limit_process(0)  # 0 leaves it alone
        assert {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"} == {1}
