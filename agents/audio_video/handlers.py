"""The three command handlers: stage the input in a temp dir, probe it, and run the configured engine."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path, PurePosixPath

from aiohttp import web

from agents.audio_video import caps, espeak, ffmpeg, google_stt, google_tts, openai_stt, sphinx
from agents.audio_video.convert import PROFILES, convert, plan_duration
from agents.audio_video.settings import MediaSettings
from agents.common import AgentFailure, Job, Output, isolate
from agents.common.google_token import GoogleToken
from spotrun.protocol import ConvertArgs, ErrorCode, InputFile, OutputFile, TranscribeArgs, TtsArgs

MEDIA: web.AppKey[MediaSettings] = web.AppKey("media", MediaSettings)
GOOGLE_TOKEN: web.AppKey[GoogleToken] = web.AppKey("google_token", GoogleToken)
# CPU-heavy work (ffmpeg, pocketsphinx) is bounded per instance: 2 vCPUs do not get faster with 10 encoders.
GATE: web.AppKey[asyncio.Semaphore] = web.AppKey("gate", asyncio.Semaphore)
# Stop tools this long before the job's deadline, so the user is told why (a non-retryable timeout).
ANSWER_MARGIN_S = 0.5
_TEXT_LIMIT = 3900  # transcript shown inline; longer ones also come as a .txt file
_TTS_FORMATS = {"mp3": "mp3", "ogg": "opus", "wav": "wav"}  # ogg carries Opus: best for speech


def _stage(file: InputFile, settings: MediaSettings, workdir: Path) -> Path:
    limit = int(settings.max_input_mb * 1024 * 1024)
    if file.size > limit:
        raise AgentFailure(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"{file.name} is {file.size / 1048576:.1f} MiB; the "
            f"limit is {settings.max_input_mb:g} MiB — attach a shorter or smaller file",
        )
    if not file.size:
        raise AgentFailure(
            ErrorCode.INVALID_ARGUMENT, f"{file.name} is empty — attach an audio or video file"
        )
    # Our own name, keeping only a plain suffix: ffmpeg picks demuxers by extension too.
    suffix = PurePosixPath(file.name).suffix.lower()
    path = workdir / ("input" + (suffix if suffix[1:].isalnum() and len(suffix) <= 6 else ""))
    # Piece by piece: a file received in parts (multipart) is never joined in memory.
    with path.open("wb") as out:
        out.writelines(file.pieces())
    return path


def _tool_timeout(job: Job, settings: MediaSettings) -> float:
    """One tool run's time: its own cap, and never past the job's deadline (minus time to answer)."""
    left = job.remaining() - ANSWER_MARGIN_S
    if left <= 0:
        raise AgentFailure(ErrorCode.TIMEOUT, "the job's deadline left no time for ffmpeg", retryable=False)
    return min(settings.ffmpeg_timeout_s, left)


def _seconds(value: float | None) -> str:
    if value is None:
        return "unknown length"
    minutes, seconds = divmod(value, 60)
    return f"{int(minutes)}:{seconds:04.1f}" if minutes else f"{seconds:.1f} s"


def _size(n: int) -> str:
    return f"{n / 1048576:.2f} MiB" if n >= 1048576 else f"{n / 1024:.0f} KiB"


async def convert_media(job: Job) -> Output:
    args: ConvertArgs = job.args
    settings = job.app[MEDIA]
    file = job.file()
    with tempfile.TemporaryDirectory(prefix="spotrun-media-") as tmp:
        workdir = Path(tmp)
        src = _stage(file, settings, workdir)
        async with job.heavy(), job.app[GATE]:
            limits = caps.tool_limits(settings)
            info = await ffmpeg.probe(src, _tool_timeout(job, settings), file.name, limits)
            seconds, notes = plan_duration(info, args.target, args.max_seconds, settings, file.name)
            caps.check(info, settings, file.name, video=PROFILES[args.target].video, seconds=seconds)
            data, content_type = await convert(
                src, workdir, args.target, info, seconds, settings, file.name, _tool_timeout(job, settings)
            )
    stem = PurePosixPath(file.name).stem[:80] or "converted"
    kind = ffmpeg.container_name(info.format, file.name)
    text = f"Converted {file.name} ({kind}, {_seconds(info.duration)}) to {args.target}: {_size(len(data))}."
    if info.has_video and not PROFILES[args.target].video:
        text += " The video stream was dropped."
    return Output(
        title=f"{stem}.{args.target}",
        text=text + (" " + "; ".join(notes).capitalize() + "." if notes else ""),
        files=[OutputFile(name=f"{stem}.{args.target}", content_type=content_type, data=data)],
        data={
            "input_format": info.format,
            "input_duration_s": info.duration,
            "target": args.target,
            "bytes": len(data),
            "notes": notes,
        },
    )


async def tts(job: Job) -> Output:
    args: TtsArgs = job.args
    settings = job.app[MEDIA]
    name = f"speech.{args.format}"
    if settings.tts_engine == "google":
        audio = await google_tts.synthesize(
            job.session,
            job.app[GOOGLE_TOKEN],
            settings.google_tts_url,
            args.text,
            args.voice,
            args.speed,
            args.format,
            min(settings.provider_timeout_s, job.remaining()),
        )
        content_type = PROFILES[_TTS_FORMATS[args.format]].content_type
        return Output(
            title="Text to speech",
            text=f"Spoke {len(args.text)} characters with Google Text-to-Speech "
            f"({args.voice}): {_size(len(audio))}.",
            files=[OutputFile(name=name, content_type=content_type, data=audio)],
            data={"engine": "google", "voice": args.voice, "chars": len(args.text), "bytes": len(audio)},
            provider="google-tts",
            provider_cost_usd=len(args.text) * settings.google_tts_cost_per_char,
        )
    with tempfile.TemporaryDirectory(prefix="spotrun-tts-") as tmp:
        wav = Path(tmp) / "speech.wav"
        async with job.app[GATE]:
            wav.write_bytes(
                await espeak.synthesize(args.text, args.voice, args.speed, settings.ffmpeg_timeout_s)
            )
            # Even WAV goes through ffmpeg: espeak-ng's streamed header carries no length.
            data, content_type = await convert(
                wav,
                Path(tmp),
                _TTS_FORMATS[args.format],
                ffmpeg.MediaInfo("wav", None, True, False),
                settings.max_duration_s,
                settings,
                "the speech",
                _tool_timeout(job, settings),
            )
    return Output(
        title="Text to speech",
        text=f"Spoke {len(args.text)} characters with espeak-ng ({args.voice}, {args.speed} wpm): "
        f"{_size(len(data))}.",
        files=[OutputFile(name=name, content_type=content_type, data=data)],
        data={"engine": "espeak", "voice": args.voice, "chars": len(args.text), "bytes": len(data)},
    )


def _duration_limit(settings: MediaSettings) -> float:
    limits = {"pocketsphinx": settings.sphinx_max_duration_s, "google": settings.google_stt_max_duration_s}
    return min(settings.max_duration_s, limits.get(settings.stt_engine, settings.max_duration_s))


async def transcribe(job: Job) -> Output:
    args: TranscribeArgs = job.args
    settings = job.app[MEDIA]
    file = job.file()
    engine = settings.stt_engine
    # Refuse before spending CPU on audio conversion.
    if engine == "openai":
        openai_stt.require_configured(settings)
    if engine == "google":
        await job.app[GOOGLE_TOKEN].authorization()
    if engine == "pocketsphinx" and not args.language.lower().startswith("en"):
        raise AgentFailure(
            ErrorCode.INVALID_ARGUMENT,
            f"the offline engine only knows English, not "
            f"{args.language} — ask the operator to enable a cloud engine "
            "(SPOTRUN_MEDIA_STT_ENGINE=openai or google)",
        )
    limit = _duration_limit(settings)
    warnings: list[str] = []
    text = ""
    with tempfile.TemporaryDirectory(prefix="spotrun-stt-") as tmp:
        src = _stage(file, settings, Path(tmp))
        async with job.heavy(), job.app[GATE]:
            limits = caps.tool_limits(settings)
            info = await ffmpeg.probe(src, _tool_timeout(job, settings), file.name, limits)
            caps.check(info, settings, file.name, video=False, seconds=limit)
            if not info.has_audio:
                raise AgentFailure(
                    ErrorCode.INVALID_ARGUMENT,
                    f"{file.name} has no audio track — attach a recording with sound",
                )
            if info.duration and info.duration > limit:
                raise AgentFailure(
                    ErrorCode.PAYLOAD_TOO_LARGE,
                    f"{file.name} is {_seconds(info.duration)} "
                    f"long; the {engine} engine takes up to {limit:.0f} s here — trim it "
                    "(e.g. `convert mp3 max_seconds=60`) and try again",
                )
            audio_path = Path(tmp) / ("speech.raw" if engine == "pocketsphinx" else "speech.flac")
            await ffmpeg.to_pcm16k(
                src,
                audio_path,
                "s16le" if engine == "pocketsphinx" else "flac",
                _tool_timeout(job, settings),
                limit,
                limits,
            )
            audio = audio_path.read_bytes()  # at most `limit` s of 16 kHz mono: bounded by -t above
            if engine == "pocketsphinx":
                # A child process, not a thread: killed at the deadline instead of decoding on unseen.
                text = await isolate.run(
                    sphinx.transcribe,
                    audio,
                    memory_mb=settings.sphinx_memory_mb,
                    timeout_s=_tool_timeout(job, settings),
                    what="offline transcription",
                )
                warnings.append(sphinx.WARNING)
        minutes = (info.duration or 0) / 60
        provider: str | None = None
        cost = 0.0
        confidence = None
        timeout = min(settings.provider_timeout_s, job.remaining())
        if engine == "openai":
            text = await openai_stt.transcribe(job.session, settings, audio, args.language, timeout)
            provider, cost = "openai-transcription", minutes * settings.openai_cost_per_minute
        elif engine == "google":
            text, confidence = await google_stt.transcribe(
                job.session, job.app[GOOGLE_TOKEN], settings.google_stt_url, audio, args.language, timeout
            )
            provider, cost = "google-stt", minutes * settings.google_stt_cost_per_minute
    if not text:
        warnings.append("no speech was recognised — check that the recording has audible speech")
    files = []
    shown = text or "(no speech recognised)"
    if len(shown) > _TEXT_LIMIT:
        shown = shown[: _TEXT_LIMIT - 40] + "… (full transcript attached)"
        files.append(
            OutputFile(name="transcript.txt", content_type="text/plain; charset=utf-8", data=text.encode())
        )
    return Output(
        title=f"Transcript of {file.name}"[:256],
        text=shown,
        files=files,
        data={
            "engine": engine,
            "language": args.language,
            "duration_s": info.duration,
            "transcript": text,
            "confidence": confidence,
        },
        warnings=warnings,
        provider=provider,
        provider_cost_usd=cost,
    )
