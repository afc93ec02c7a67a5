"""Plain words in `spotrun dev --console`: routed like a mention of the bot, local paths standing in
for attachments."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.bot.conftest import needs_agent
from tests.bot.test_processes import env_for
from tests.helpers import ROOT


@needs_agent("audio-video")
@needs_agent("data-analysis")
def test_console_routes_plain_words(tmp_path: Path) -> None:
    sales = tmp_path / "sales.csv"
    sales.write_text("month,revenue,cost\nJan,10,4\nFeb,12,5\nMar,15,7\n")
    out = tmp_path / "out"
    lines = f"read this out loud: hello there\nmake a bar chart of revenue by month {sales}\nlol\n"
    proc = subprocess.run(
        [sys.executable, "-m", "spotrun", "dev", "--console", "--output", str(out)],
        input=lines.encode(),
        capture_output=True,
        cwd=ROOT,
        env=env_for(tmp_path, SPOTRUN_DEV_AGENTS="audio-video,data-analysis"),
        timeout=120,
        check=False,
    )
    stdout = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert '→ !tts "hello there"' in stdout
    assert "→ !chart bar x=month y=revenue" in stdout
    assert "I don't know how to do that yet" in stdout and "!chart" in stdout
    assert len(list(out.glob("*.mp3"))) == 1 and len(list(out.glob("*.png"))) == 1
