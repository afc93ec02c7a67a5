"""Offline text-to-speech with espeak-ng: text in on stdin (never argv), 22 kHz mono WAV out."""

from __future__ import annotations

from agents.audio_video.ffmpeg import ToolError, run_tool
from agents.common import AgentFailure
from spotrun.protocol import ErrorCode


async def synthesize(text: str, voice: str, wpm: int, timeout_s: float) -> bytes:
    # --stdin: text that starts with "-" must never be read as an option.
    argv = ["espeak-ng", "-v", voice, "-s", str(wpm), "--stdout", "--stdin"]
    try:
        wav = await run_tool(argv, timeout_s, stdin=text.encode())
    except ToolError as exc:
        if "voice does not exist" in exc.stderr.lower():
            raise AgentFailure(
                ErrorCode.INVALID_ARGUMENT,
                f"espeak-ng has no voice {voice!r} — try en, en-us, de, fr, es, it, pt, nl or ja",
            ) from None
        raise AgentFailure(ErrorCode.INTERNAL, f"espeak-ng failed: {exc.stderr[-200:]}") from None
    if len(wav) <= 44:  # a bare RIFF header: nothing was spoken
        raise AgentFailure(
            ErrorCode.INVALID_ARGUMENT, "espeak-ng produced no audio — give text with words in it"
        )
    return wav
