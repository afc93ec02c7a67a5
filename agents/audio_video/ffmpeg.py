"""ffprobe/ffmpeg as sandboxed subprocesses: local files only, no stdin, a timeout that kills the child."""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from agents.common import AgentFailure
from spotrun.logs import get_logger
from spotrun.protocol import ErrorCode

log = get_logger("agents.audio_video.ffmpeg")

# Only local files and pipes: a crafted playlist must not make ffmpeg fetch URLs (SSRF).
SAFE_INPUT = ("-protocol_whitelist", "file,pipe")
# Demuxers that read *other* files named inside the input (playlists, concat lists) or treat
# any text as "media" are refused even though the whitelist keeps them local.
_REFUSED_FORMATS = {
    "hls",
    "concat",
    "ffconcat",
    "m3u8",
    "dash",
    "tty",
    "lrc",
    "srt",
    "webvtt",
    "ass",
    "image2",
    "sdp",
    "rtp",
    "mpjpeg",
    "ffmetadata",
}
_STDERR_TAIL = 600


@dataclass(frozen=True)
class MediaInfo:
    format: str
    duration: float | None
    has_audio: bool
    has_video: bool
    width: int | None = None
    height: int | None = None


class ToolError(Exception):
    """A media tool exited non-zero; `stderr` holds its last words."""

    def __init__(self, tool: str, code: int, stderr: str) -> None:
        super().__init__(f"{tool} exited with {code}: {stderr}")
        self.tool = tool
        self.code = code
        self.stderr = stderr


async def run_tool(argv: list[str], timeout_s: float, stdin: bytes | None = None) -> bytes:
    """Run argv; stdout on success, ToolError on failure, AgentFailure(TIMEOUT) after killing it."""
    if shutil.which(argv[0]) is None:
        raise AgentFailure(
            ErrorCode.ENGINE_UNAVAILABLE,
            f"{argv[0]} is not installed on this agent — the operator must add it to the image",
        )
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout_s):
            out, err = await proc.communicate(stdin)
    except (TimeoutError, asyncio.CancelledError) as exc:
        # The job deadline (a CancelledError from the runtime's timeout) kills the child too.
        proc.kill()
        await proc.wait()
        if isinstance(exc, asyncio.CancelledError):
            raise
        raise AgentFailure(
            ErrorCode.TIMEOUT, f"{argv[0]} did not finish within {timeout_s:.0f} s — try a shorter clip"
        ) from None
    if proc.returncode != 0:
        text = err.decode(errors="replace").strip()[-_STDERR_TAIL:]
        log.info("media tool failed", tool=argv[0], code=proc.returncode, stderr=text)
        raise ToolError(argv[0], proc.returncode or -1, text)
    return out


async def probe(path: Path, timeout_s: float, name: str) -> MediaInfo:
    """Streams and duration of a local file; non-media becomes UNSUPPORTED_MEDIA."""
    argv = [
        "ffprobe",
        "-v",
        "error",
        *SAFE_INPUT,
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        str(path),
    ]
    try:
        doc = json.loads(await run_tool(argv, timeout_s))
    except ToolError:
        raise AgentFailure(
            ErrorCode.UNSUPPORTED_MEDIA,
            f"{name} is not an audio or video file ffmpeg can read "
            "— attach an audio/video file (mp3, ogg, wav, mp4, webm, …)",
        ) from None
    fmt = doc.get("format", {}).get("format_name", "")
    streams = doc.get("streams", [])
    video = [s for s in streams if s.get("codec_type") == "video"]
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    if set(fmt.split(",")) & _REFUSED_FORMATS or not (audio or video):
        raise AgentFailure(
            ErrorCode.UNSUPPORTED_MEDIA,
            f"{name} is not an audio or video file (ffmpeg sees "
            f"{fmt or 'no streams'}) — attach an audio/video file (mp3, ogg, wav, mp4, webm, …)",
        )
    try:
        duration: float | None = float(doc["format"]["duration"])
    except (KeyError, ValueError):
        duration = None
    return MediaInfo(
        format=fmt,
        duration=duration,
        has_audio=bool(audio),
        has_video=bool(video),
        width=video[0].get("width") if video else None,
        height=video[0].get("height") if video else None,
    )


async def ffmpeg(args: list[str], timeout_s: float, what: str) -> None:
    """`ffmpeg -nostdin -y <args>`; a failure becomes a user-facing message with ffmpeg's reason."""
    argv = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    try:
        await run_tool(argv, timeout_s)
    except ToolError as exc:
        reason = exc.stderr.splitlines()[-1] if exc.stderr else f"exit code {exc.code}"
        raise AgentFailure(
            ErrorCode.UNSUPPORTED_MEDIA,
            f"ffmpeg could not {what}: {reason} — the file may be "
            "damaged or use an unusual codec; try another export",
        ) from None


async def to_pcm16k(src: Path, dest: Path, container: str, timeout_s: float, max_s: float) -> None:
    """Speech engines want 16 kHz mono 16-bit audio; `container` is `s16le` (raw) or `flac`."""
    await ffmpeg(
        [
            *SAFE_INPUT,
            "-i",
            str(src),
            "-t",
            f"{max_s:.3f}",
            "-vn",
            "-sn",
            "-dn",
            "-ac",
            "1",
            "-ar",
            "16000",
            "-sample_fmt",
            "s16",
            "-f",
            container,
            str(dest),
        ],
        timeout_s,
        "extract 16 kHz mono audio",
    )


# ffprobe names a demuxer by every format it reads ("mov,mp4,m4a,3gp,3g2,mj2"): its first name is
# not what the user uploaded. What most people call each family when the file name doesn't say.
_FAMILY_NAME = {"mov": "mp4", "matroska": "mkv"}


def container_name(format_name: str, filename: str) -> str:
    """The container as the user knows it: the file's own extension when ffprobe agrees with it."""
    names = [n for n in format_name.split(",") if n]
    if not names:
        return "unknown format"
    ext = PurePosixPath(filename).suffix.lower().lstrip(".")
    if ext in names:
        return ext
    return _FAMILY_NAME.get(names[0], names[0])
