"""`convert`: one ffmpeg profile per target format, with duration and output-size caps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agents.audio_video import caps, ffmpeg
from agents.audio_video.settings import MediaSettings
from agents.common import AgentFailure
from spotrun.protocol import ErrorCode


@dataclass(frozen=True)
class Profile:
    content_type: str
    video: bool  # needs a video stream in the input
    args: tuple[str, ...]


# Even dimensions (x264/yuv420p require them), at most 1280 wide: keeps files under Discord's limit.
_SCALE = "scale='min(1280,iw)':-2"
_GIF = (
    "fps=10,scale='min(480,iw)':-1:flags=lanczos,split[a][b];[a]palettegen=max_colors=128[p];[b][p]paletteuse"
)

PROFILES: dict[str, Profile] = {
    "mp3": Profile("audio/mpeg", False, ("-vn", "-c:a", "libmp3lame", "-b:a", "128k")),
    "ogg": Profile("audio/ogg", False, ("-vn", "-c:a", "libvorbis", "-q:a", "4")),
    "opus": Profile("audio/ogg", False, ("-vn", "-c:a", "libopus", "-b:a", "64k")),
    "wav": Profile("audio/wav", False, ("-vn", "-c:a", "pcm_s16le")),
    "mp4": Profile(
        "video/mp4",
        True,
        (
            "-vf",
            _SCALE,
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "28",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-movflags",
            "+faststart",
        ),
    ),
    "webm": Profile(
        "video/webm",
        True,
        (
            "-vf",
            _SCALE,
            "-c:v",
            "libvpx-vp9",
            "-b:v",
            "0",
            "-crf",
            "36",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-row-mt",
            "1",
            "-c:a",
            "libopus",
            "-b:a",
            "96k",
        ),
    ),
    "gif": Profile("image/gif", True, ("-an", "-filter_complex", _GIF, "-loop", "0")),
}


def plan_duration(
    info: ffmpeg.MediaInfo, target: str, max_seconds: float | None, settings: MediaSettings, name: str
) -> tuple[float, list[str]]:
    """How many seconds to convert, and notes for the user about any cut."""
    notes = []
    limit = max_seconds or settings.max_duration_s
    if info.duration and info.duration > settings.max_duration_s and not max_seconds:
        raise AgentFailure(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"{name} is {info.duration:.0f} s long; the limit is "
            f"{settings.max_duration_s:.0f} s — pass max_seconds= to convert the start only",
        )
    limit = min(limit, settings.max_duration_s)
    if target == "gif" and limit > settings.max_gif_s and (info.duration or limit) > settings.max_gif_s:
        limit = settings.max_gif_s
        notes.append(f"GIF cut to the first {settings.max_gif_s:g} s")
    elif max_seconds and info.duration and info.duration > max_seconds:
        notes.append(f"cut to the first {max_seconds:g} s")
    return limit, notes


async def convert(
    src: Path,
    workdir: Path,
    target: str,
    info: ffmpeg.MediaInfo,
    seconds: float,
    settings: MediaSettings,
    name: str,
    timeout_s: float,
) -> tuple[bytes, str]:
    profile = PROFILES[target]
    if profile.video and not info.has_video:
        raise AgentFailure(
            ErrorCode.INVALID_ARGUMENT,
            f"{name} has no video stream, so it cannot become {target} — choose mp3, ogg, opus or wav",
        )
    if not profile.video and not info.has_audio:
        raise AgentFailure(
            ErrorCode.INVALID_ARGUMENT,
            f"{name} has no audio stream, so it cannot become {target} — choose mp4, webm or gif",
        )
    limits = caps.tool_limits(settings)
    out = workdir / f"output.{target}"
    cap = int(settings.max_output_mb * 1024 * 1024)
    # -fs stops writing just past the cap, so an oversized result fails fast instead of filling the disk.
    await ffmpeg.ffmpeg(
        [
            *limits.input_args(),
            "-i",
            str(src),
            "-t",
            f"{seconds:.3f}",
            "-sn",
            "-dn",
            "-map_metadata",
            "-1",
            *profile.args,
            *limits.output_args(),
            "-fs",
            str(cap + 1),
            str(out),
        ],
        timeout_s,
        f"convert {name} to {target}",
        settings.ffmpeg_memory_mb,
    )
    data = out.read_bytes()
    if len(data) > cap:
        raise AgentFailure(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"the {target} would be larger than "
            f"{settings.max_output_mb:g} MiB — pass max_seconds= for a shorter part or "
            "choose a more compact format (opus, mp3, webm)",
        )
    if not data:
        raise AgentFailure(
            ErrorCode.UNSUPPORTED_MEDIA,
            f"ffmpeg produced an empty {target} from {name} — the input may have no decodable frames",
        )
    return data, profile.content_type
