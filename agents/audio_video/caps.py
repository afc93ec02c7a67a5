"""Input caps decided on ffprobe's report, before any frame is decoded: frame size, frame count, streams."""

from __future__ import annotations

from agents.audio_video.ffmpeg import Limits, MediaInfo
from agents.audio_video.settings import MediaSettings
from agents.common import AgentFailure
from spotrun.protocol import ErrorCode


def tool_limits(settings: MediaSettings) -> Limits:
    return Limits(
        memory_mb=settings.ffmpeg_memory_mb,
        max_frame_pixels=settings.max_frame_width * settings.max_frame_height,
        threads=settings.ffmpeg_threads,
    )


def _mp(pixels: int) -> str:
    return f"{pixels / 1e6:.1f} MP"


def check(info: MediaInfo, settings: MediaSettings, name: str, *, video: bool, seconds: float) -> None:
    """Refuse (413, naming the limit) what would not fit.

    `video`: the job decodes the video stream; `seconds`: how much of the input it converts.
    """
    if info.streams > settings.max_streams:
        raise AgentFailure(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"{name} has {info.streams} streams; the limit is {settings.max_streams} — "
            "export it with one video and one audio track",
        )
    if not video:
        return  # audio-only work drops the video (-vn); its decoder is capped and never runs
    width, height = settings.max_frame_width, settings.max_frame_height
    if info.oversize is not None:
        w, h = info.oversize
        raise AgentFailure(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"{name}'s frames are {w}×{h} ({_mp(w * h)}); the limit is {_mp(width * height)} "
            f"({width}×{height}) — scale the video down and try again",
        )
    frames = info.video_frames
    if frames is not None and info.duration and seconds < info.duration:
        frames = int(frames * seconds / info.duration)  # only the converted part is decoded
    if frames is not None and frames > settings.max_video_frames:
        raise AgentFailure(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"{name} has {frames:,} video frames to convert; the limit is {settings.max_video_frames:,} "
            "— pass max_seconds= or lower the frame rate",
        )
