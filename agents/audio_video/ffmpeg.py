"""ffprobe/ffmpeg as sandboxed subprocesses: local files only, capped memory and frames, killed in time."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import resource
import shutil
import signal
from collections.abc import Callable
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


# What a decoder says when -max_pixels refuses a frame: the frame's real size, for the user.
_OVERSIZE = re.compile(r"Picture size (\d+)x(\d+) exceeds")
# How ffmpeg and its codecs report an allocation refused under RLIMIT_AS.
_OUT_OF_MEMORY = re.compile(
    r"out of memory|Cannot allocate memory|[Mm]emory allocation|malloc of size|get_buffer\(\) failed"
    r"|failed to map segment"
)


@dataclass(frozen=True)
class Limits:
    """What one ffmpeg/ffprobe child may use: address space, and pixels per decoded frame."""

    memory_mb: float
    max_frame_pixels: int
    # Each codec thread holds its own frames and stack: a fixed count keeps a 4K job inside
    # `memory_mb` whatever the instance's CPU count (16 threads did not fit 1.5 GiB; 4 do).
    threads: int = 4

    def input_args(self) -> tuple[str, ...]:
        # The decoder itself refuses bigger frames, so neither ffprobe's stream analysis (which
        # decodes a frame: 800 MB for one 16000×16000 PNG frame) nor a frame that grows mid-stream
        # can allocate one.
        return (*SAFE_INPUT, "-max_pixels", str(self.max_frame_pixels), "-threads", str(self.threads))

    def output_args(self) -> tuple[str, ...]:
        return ("-threads", str(self.threads), "-filter_threads", str(self.threads))


@dataclass(frozen=True)
class MediaInfo:
    format: str
    duration: float | None
    has_audio: bool
    has_video: bool
    width: int | None = None
    height: int | None = None
    streams: int = 1
    video_frames: int | None = None  # packets of the main video stream, counted without decoding
    oversize: tuple[int, int] | None = None  # frame size a decoder refused (over the pixel limit)


class ToolError(Exception):
    """A media tool exited non-zero; `stderr` holds its last words."""

    out_of_memory = False  # its output reported a refused allocation (under RLIMIT_AS)

    def __init__(self, tool: str, code: int, stderr: str) -> None:
        super().__init__(f"{tool} exited with {code}: {stderr}")
        self.tool = tool
        self.code = code
        self.stderr = stderr


def _rlimit(memory_bytes: int | None) -> Callable[[], None] | None:
    if memory_bytes is None:
        return None

    def apply() -> None:  # runs in the child between fork and exec: only a syscall
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    return apply


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    # The child leads its own process group: kill it and anything it started.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


async def run_tool_output(
    argv: list[str], timeout_s: float, stdin: bytes | None = None, memory_mb: float | None = None
) -> tuple[bytes, bytes]:
    """Run argv; (stdout, stderr) on success, ToolError on failure, AgentFailure(TIMEOUT) after killing it.

    `memory_mb` caps the child's address space (RLIMIT_AS): past it allocations fail and the tool
    exits, instead of the instance running out of memory.
    """
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
        start_new_session=True,
        preexec_fn=_rlimit(int(memory_mb * 2**20) if memory_mb else None),
        # Few malloc arenas: each reserves 64 MB of address space per thread, which RLIMIT_AS counts.
        env={**os.environ, "MALLOC_ARENA_MAX": "2"},
    )
    try:
        async with asyncio.timeout(timeout_s):
            out, err = await proc.communicate(stdin)
    except (TimeoutError, asyncio.CancelledError) as exc:
        # The job deadline (a CancelledError from the runtime's timeout) kills the child too.
        _kill_group(proc)
        await proc.wait()
        if isinstance(exc, asyncio.CancelledError):
            raise
        # Not retryable: the same input would run out of time again.
        raise AgentFailure(
            ErrorCode.TIMEOUT,
            f"{argv[0]} did not finish within {timeout_s:.1f} s and was stopped — try a shorter clip",
            retryable=False,
        ) from None
    if proc.returncode != 0:
        full = err.decode(errors="replace").strip()
        text = full[-_STDERR_TAIL:]
        log.info("media tool failed", tool=argv[0], code=proc.returncode, stderr=text)
        error = ToolError(argv[0], proc.returncode or -1, text)
        # A refused allocation is often reported early, then buried under follow-on errors.
        error.out_of_memory = bool(_OUT_OF_MEMORY.search(full))
        raise error
    return out, err


async def run_tool(
    argv: list[str], timeout_s: float, stdin: bytes | None = None, memory_mb: float | None = None
) -> bytes:
    """`run_tool_output`, stdout only."""
    out, _ = await run_tool_output(argv, timeout_s, stdin, memory_mb)
    return out


async def probe(path: Path, timeout_s: float, name: str, limits: Limits) -> MediaInfo:
    """Streams, duration, frame size and count of a local file; non-media becomes UNSUPPORTED_MEDIA.

    Nothing here decodes a frame over the pixel limit: such a frame is reported in `oversize`.
    """
    argv = [
        "ffprobe",
        "-v",
        "error",
        *limits.input_args(),
        "-count_packets",  # demuxes the whole file (cheap), decodes nothing
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        str(path),
    ]
    try:
        out, err = await run_tool_output(argv, timeout_s, memory_mb=limits.memory_mb)
        doc = json.loads(out)
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
    width = video[0].get("width") if video else None
    height = video[0].get("height") if video else None
    refused = _OVERSIZE.search(err.decode(errors="replace"))
    oversize = (int(refused.group(1)), int(refused.group(2))) if refused else None
    if oversize is None and width and height and width * height > limits.max_frame_pixels:
        oversize = (width, height)  # known from the container or a parser, not from decoding
    frames = video[0].get("nb_read_packets") if video else None
    return MediaInfo(
        format=fmt,
        duration=duration,
        has_audio=bool(audio),
        has_video=bool(video),
        width=width or None,
        height=height or None,
        streams=len(streams),
        video_frames=int(frames) if frames and str(frames).isdigit() else None,
        oversize=oversize,
    )


async def ffmpeg(args: list[str], timeout_s: float, what: str, memory_mb: float | None = None) -> None:
    """`ffmpeg -nostdin -y <args>`; a failure becomes a user-facing message with ffmpeg's reason."""
    argv = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    try:
        await run_tool(argv, timeout_s, memory_mb=memory_mb)
    except ToolError as exc:
        if memory_mb and exc.out_of_memory:
            raise AgentFailure(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"ffmpeg needs more than the {memory_mb:.0f} MiB of memory allowed per job to {what} "
                "— try a smaller or shorter file",
            ) from None
        reason = exc.stderr.splitlines()[-1] if exc.stderr else f"exit code {exc.code}"
        raise AgentFailure(
            ErrorCode.UNSUPPORTED_MEDIA,
            f"ffmpeg could not {what}: {reason} — the file may be "
            "damaged or use an unusual codec; try another export",
        ) from None


async def to_pcm16k(
    src: Path, dest: Path, container: str, timeout_s: float, max_s: float, limits: Limits
) -> None:
    """Speech engines want 16 kHz mono 16-bit audio; `container` is `s16le` (raw) or `flac`."""
    await ffmpeg(
        [
            *limits.input_args(),
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
        limits.memory_mb,
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
