"""The two process forms, as an operator runs them: `spotrun dev --console` through a pipe, and
`spotrun bot` as a subprocess stopped by SIGTERM (what a Spot preemption sends)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.bot.conftest import AGENTS, ALICE, needs_agent
from tests.fakes.discord import DiscordEmulator
from tests.helpers import ROOT, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

PROMPT = "spotrun> "


def local_registry(tmp_path: Path) -> Path:
    """agents.local.yaml with free ports, so tests never collide with a developer's `spotrun dev`."""
    agents = [
        {
            "name": n,
            "base_url": f"http://127.0.0.1:{free_port()}",
            "auth": "none",
            "commands": c,
            "timeout_s": 60,
        }
        for n, (_, c) in AGENTS.items()
    ]
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump({"agents": agents}))
    return path


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOTRUN_")}
    return {
        **env,
        "PYTHONUNBUFFERED": "1",
        "SPOTRUN_CLIENT_REGISTRY_FILE": str(local_registry(tmp_path)),
        "SPOTRUN_DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}",
        "SPOTRUN_STATUS_EDIT_INTERVAL_S": "0.5",
        "SPOTRUN_LOG_LEVEL": "WARNING",
        **extra,
    }


@needs_agent("audio-video")
def test_console_through_a_pipe_prints_the_result_and_saves_the_audio(
    tmp_path: Path, database_url: str
) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "spotrun", "dev", "--console", "--output", str(out)],
        input=b"!tts hello\n!tts\n",
        capture_output=True,
        cwd=ROOT,
        env=env_for(tmp_path, SPOTRUN_DEV_AGENTS="audio-video", SPOTRUN_DATABASE_URL=database_url),
        timeout=90,
        check=False,
    )
    stdout = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert "result:" in stdout and "vCPU-s" in stdout  # the embed as text, with the cost footer
    assert "usage: `!tts <text>" in stdout  # the bad line got its usage, the good one still ran
    saved = list(out.glob("*.mp3"))
    assert len(saved) == 1 and saved[0].stat().st_size > 500
    assert f"saved {saved[0]}" in stdout
    assert (out / "logs" / "audio-video.log").exists()
    # Through a pipe there is no prompt to clutter the output, and the result is the last word on
    # the job: no "done" line after it.
    assert PROMPT not in stdout
    after_result = stdout.split("result:", 1)[1]
    assert "done" not in after_result, after_result


def test_console_on_a_terminal_prompts_and_its_help_shows_how_to_pass_a_file(tmp_path: Path) -> None:
    import os
    import pty
    import select
    import time

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "spotrun", "dev", "--console", "--output", str(tmp_path / "out")],
        stdin=follower,
        stdout=follower,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=env_for(tmp_path, SPOTRUN_DEV_START_AGENTS="false"),
    )
    os.close(follower)
    seen = b""

    def read_until(marker: bytes, timeout: float = 60) -> bytes:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while marker not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no {marker!r} on the terminal; saw {seen[-2000:]!r}"
            if select.select([leader], [], [], left)[0]:
                try:
                    seen += os.read(leader, 65536)
                except OSError:  # the terminal closed: the process ended
                    break
        return seen

    try:
        read_until(PROMPT.encode())
        os.write(leader, b"!help\n")
        text = read_until(b"--output folder.").decode()
        assert "sales.csv" in text and "(with sales.csv attached)" not in text  # paths, not attachments
        assert 'file="my clip.wav"' in text  # and the form for a path with spaces
        read_until(b"folder.\r\n" + PROMPT.encode())  # asked again after the answer
        os.write(leader, b"\x04")  # Ctrl-D ends the console
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)


def test_bot_subprocess_starts_like_production_and_stops_on_sigterm(
    tmp_path: Path, database_url: str
) -> None:
    with DiscordEmulator(token="test-token") as emu:
        emu.add_user(ALICE, "alice")
        ops = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "spotrun", "bot"],
            cwd=ROOT,
            env=env_for(
                tmp_path,
                SPOTRUN_DISCORD_TOKEN="test-token",
                SPOTRUN_DISCORD_API_BASE=emu.api_base,
                SPOTRUN_SYNC_GUILD_IDS=str(emu.guild_id),
                SPOTRUN_OPS_PORT=str(ops),
                SPOTRUN_DATABASE_URL=database_url,
            ),
            stderr=subprocess.PIPE,
        )
        try:
            import asyncio

            asyncio.run(emu.wait_for_ready(timeout=30))
            import urllib.request

            body = urllib.request.urlopen(f"http://127.0.0.1:{ops}/metrics", timeout=5).read().decode()
            assert "spotrun_jobs_queue_depth" in body
            assert any(c["name"] == "tts" for c in emu.synced_commands)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.stderr is not None
        assert b"Traceback" not in proc.stderr.read()


def test_bot_without_a_token_names_the_variable(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "spotrun", "bot"],
        capture_output=True,
        cwd=ROOT,
        env=env_for(tmp_path),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert b"SPOTRUN_DISCORD_TOKEN" in proc.stderr


@needs_agent("audio-video")
def test_dev_with_a_token_runs_the_agents_and_the_discord_bot(tmp_path: Path) -> None:
    import asyncio

    with DiscordEmulator(token="test-token") as emu:
        emu.add_user(ALICE, "alice")
        proc = subprocess.Popen(
            [sys.executable, "-m", "spotrun", "dev", "--output", str(tmp_path / "out")],
            cwd=ROOT,
            env=env_for(
                tmp_path,
                SPOTRUN_DISCORD_TOKEN="test-token",
                SPOTRUN_DISCORD_API_BASE=emu.api_base,
                SPOTRUN_OPS_PORT="0",
                SPOTRUN_DEV_AGENTS="audio-video",
            ),
        )
        try:
            asyncio.run(emu.wait_for_ready(timeout=60))
            emu.user_says(ALICE, "!tts hello from dev mode")
            msg = asyncio.run(emu.wait_for(lambda m: bool(m.attachments), timeout=30))
            assert msg.attachments[0][0].endswith(".mp3")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.parametrize("argv", [["bot"], ["dev"]], ids=["spotrun bot", "spotrun dev"])
def test_a_token_discord_refuses_is_one_line_and_exit_2(tmp_path: Path, argv: list[str]) -> None:
    with DiscordEmulator(token="test-token") as emu:
        proc = subprocess.run(
            [sys.executable, "-m", "spotrun", *argv],
            capture_output=True,
            cwd=ROOT,
            env=env_for(
                tmp_path,
                SPOTRUN_DISCORD_TOKEN="not-the-token",
                SPOTRUN_DISCORD_API_BASE=emu.api_base,
                SPOTRUN_OPS_PORT="0",
                SPOTRUN_DEV_START_AGENTS="false",
            ),
            timeout=60,
            check=False,
        )
    err = proc.stderr.decode(errors="replace")
    assert "Traceback" not in err, err
    assert proc.returncode == 2, err
    # Besides the process's JSON log lines (discord.py's voice warnings), one plain line.
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith('{"')]
    assert len(lines) == 1 and "SPOTRUN_DISCORD_TOKEN" in lines[0], err


def test_dev_names_an_agent_that_cannot_start_in_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:  # the agent's port is taken: it exits at startup
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        registry = tmp_path / "busy.yaml"
        name, (_, commands) = "data-analysis", AGENTS["data-analysis"]
        agent = {"name": name, "auth": "none", "commands": commands, "timeout_s": 60}
        agent["base_url"] = f"http://127.0.0.1:{busy.getsockname()[1]}"
        registry.write_text(yaml.safe_dump({"agents": [agent]}))
        proc = subprocess.run(
            [sys.executable, "-m", "spotrun", "dev", "--console", "--output", str(tmp_path / "out")],
            input=b"",
            capture_output=True,
            cwd=ROOT,
            env=env_for(tmp_path, SPOTRUN_CLIENT_REGISTRY_FILE=str(registry), SPOTRUN_DEV_AGENTS=name),
            timeout=90,
            check=False,
        )
    err = proc.stderr.decode(errors="replace")
    assert "Traceback" not in err and proc.returncode == 1, err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith('{"')]
    assert len(lines) == 1 and "data-analysis" in lines[0] and "data-analysis.log" in lines[0], err
