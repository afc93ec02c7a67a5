"""agents.common.isolate: results and failures cross the process boundary; memory and time are capped."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest

from agents.common import AgentFailure, isolate
from spotrun.protocol import ErrorCode


@pytest.fixture(autouse=True, scope="module")
def _warm() -> None:
    isolate.start(["tests.agents.test_isolate"])  # as the agents do at startup


def _double(data: bytes) -> bytes:
    return data * 2


def _refuse(name: str) -> None:
    raise AgentFailure(ErrorCode.UNSUPPORTED_MEDIA, f"{name} is not an image")


def _hog(mb: int) -> int:
    return len(bytearray(mb * 2**20))


def _spin(path: str) -> None:
    with open(path, "w") as out:
        out.write(str(os.getpid()))
    while True:
        pass


async def test_result_comes_back() -> None:
    assert (
        await isolate.run(_double, b"ab" * 1000, memory_mb=512, timeout_s=20, what="doubling") == b"ab" * 2000
    )


async def test_the_childs_failure_is_raised_unchanged() -> None:
    with pytest.raises(AgentFailure) as info:
        await isolate.run(_refuse, "x.png", memory_mb=512, timeout_s=20, what="reading")
    assert info.value.code is ErrorCode.UNSUPPORTED_MEDIA and info.value.message == "x.png is not an image"


async def test_memory_over_the_cap_is_a_413_naming_it() -> None:
    assert await isolate.run(_hog, 64, memory_mb=512, timeout_s=20, what="hogging") == 64 * 2**20
    with pytest.raises(AgentFailure) as info:
        await isolate.run(_hog, 2048, memory_mb=512, timeout_s=20, what="hogging")
    assert info.value.status == 413 and "512 MiB" in info.value.message and not info.value.retryable


async def test_deadline_kills_the_child_and_is_not_retryable(tmp_path: Path) -> None:
    pid_file = str(tmp_path / "pid")
    started = time.monotonic()
    with pytest.raises(AgentFailure) as info:
        await isolate.run(_spin, pid_file, memory_mb=512, timeout_s=1.5, what="spinning")
    assert time.monotonic() - started < 3
    assert info.value.code is ErrorCode.TIMEOUT and info.value.retryable is False
    pid = int((tmp_path / "pid").read_text())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
