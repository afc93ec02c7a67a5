"""The audio-video agent over real HTTP: real ffmpeg, espeak-ng, pocketsphinx; providers faked on loopback."""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agents.audio_video.app import build
from agents.audio_video.settings import MediaSettings
from agents.common import AgentSettings
from spotrun.protocol import AgentResult
from tests.fakes.google_speech import FakeGoogleSpeech
from tests.fakes.openai_audio import FakeOpenAIAudio
from tests.helpers import serve

_ids = itertools.count()


def run(*argv: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(argv, input=stdin, capture_output=True, check=True, timeout=60).stdout


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Real test media, made once: a 2 s video with a tone, a tone-only WAV, and espeak-ng speech."""
    tmp = tmp_path_factory.mktemp("media")
    video = tmp / "clip.mp4"
    run(
        "ffmpeg",
        "-nostdin",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        "testsrc=duration=2:size=160x120:rate=10",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=2",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        str(video),
    )
    tone = tmp / "tone.wav"
    run(
        "ffmpeg",
        "-nostdin",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=300:duration=1",
        str(tone),
    )
    speech = tmp / "speech.wav"
    run("espeak-ng", "-v", "en-us", "-w", str(speech), "hello world. this is a test of speech recognition.")
    return {"video": video.read_bytes(), "tone": tone.read_bytes(), "speech": speech.read_bytes()}


def probe(data: bytes, tmp_path: Path, suffix: str) -> dict[str, Any]:
    path = tmp_path / f"probe-{next(_ids)}.{suffix}"
    path.write_bytes(data)
    return json.loads(
        run("ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path))
    )


async def call(
    base: str, command: str, args: dict[str, Any], file: tuple[str, bytes, str] | None = None
) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {
        "job_id": f"av-{command}-{next(_ids)}",
        "command": command,
        "args": args,
        "context": {"user_id": "1"},
    }
    if file:
        name, data, content_type = file
        body["files"] = [
            {"name": name, "content_type": content_type, "data": base64.b64encode(data).decode()}
        ]
    async with aiohttp.ClientSession() as session, session.post(f"{base}/v1/{command}", json=body) as resp:
        return resp.status, await resp.json()


def result_file(body: dict[str, Any]) -> bytes:
    return AgentResult.model_validate(body).files[0].data


@pytest.fixture
async def agent():
    async with serve(build(AgentSettings(auth="none"), MediaSettings(max_input_mb=2))) as base:
        yield base


# ---------------------------------------------------------------------------------------------- convert


@pytest.mark.parametrize(
    ("target", "codec", "kind"),
    [("mp3", "mp3", "audio"), ("gif", "gif", "video"), ("webm", "vp9", "video"), ("opus", "opus", "audio")],
)
async def test_convert_video(
    agent: str, media: dict[str, bytes], tmp_path: Path, target: str, codec: str, kind: str
) -> None:
    status, body = await call(agent, "convert", {"target": target}, ("clip.mp4", media["video"], "video/mp4"))
    assert status == 200, body
    out = result_file(body)
    assert body["files"][0]["name"] == f"clip.{target}"
    info = probe(out, tmp_path, target)
    streams = info["streams"]
    assert [s["codec_type"] for s in streams if s["codec_name"] == codec] == [kind]
    assert float(info["format"]["duration"]) == pytest.approx(2.0, abs=0.3)
    if kind == "audio":
        assert all(s["codec_type"] == "audio" for s in streams)  # the video stream was dropped
        assert "video stream was dropped" in body["text"]
    if target == "gif":
        assert out[:6] == b"GIF89a" and streams[0]["width"] == 160


async def test_convert_refuses_text_and_audio_to_video(agent: str, media: dict[str, bytes]) -> None:
    status, body = await call(
        agent, "convert", {"target": "mp3"}, ("notes.txt", b"just some text\n" * 20, "text/plain")
    )
    assert status == 415 and body["error"]["code"] == "unsupported_media"
    assert "not an audio or video file" in body["error"]["message"]
    status, body = await call(agent, "convert", {"target": "mp4"}, ("tone.wav", media["tone"], "audio/wav"))
    assert status == 422 and "no video stream" in body["error"]["message"]
    assert "choose mp3, ogg, opus or wav" in body["error"]["message"]


async def test_convert_refuses_playlists(agent: str) -> None:
    # An HLS playlist naming a network URL: ffmpeg must never fetch it.
    playlist = (
        b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:9/secret.ts\n#EXT-X-ENDLIST\n"
    )
    status, body = await call(
        agent, "convert", {"target": "mp3"}, ("list.m3u8", playlist, "application/vnd.apple.mpegurl")
    )
    assert status == 415 and body["error"]["code"] == "unsupported_media"


async def test_convert_limits(media: dict[str, bytes]) -> None:
    async with serve(
        build(
            AgentSettings(auth="none"),
            MediaSettings(max_input_mb=0.01, max_duration_s=1.5, max_output_mb=0.001),
        )
    ) as base:
        status, body = await call(
            base, "convert", {"target": "mp3"}, ("clip.mp4", media["video"], "video/mp4")
        )
        assert status == 413 and "limit is 0.01 MiB" in body["error"]["message"]
    async with serve(build(AgentSettings(auth="none"), MediaSettings(max_duration_s=1.5))) as base:
        status, body = await call(
            base, "convert", {"target": "mp3"}, ("clip.mp4", media["video"], "video/mp4")
        )
        assert status == 413 and "pass max_seconds=" in body["error"]["message"]
        status, body = await call(
            base, "convert", {"target": "wav", "max_seconds": 1}, ("clip.mp4", media["video"], "video/mp4")
        )
        assert status == 200 and "cut to the first 1 s" in body["text"].lower()
    async with serve(build(AgentSettings(auth="none"), MediaSettings(max_output_mb=0.005))) as base:
        status, body = await call(
            base, "convert", {"target": "wav"}, ("clip.mp4", media["video"], "video/mp4")
        )
        assert status == 413 and "larger than 0.005 MiB" in body["error"]["message"]


# -------------------------------------------------------------------------------------------------- tts


@pytest.mark.parametrize(("fmt", "codec"), [("mp3", "mp3"), ("ogg", "opus"), ("wav", "pcm_s16le")])
async def test_tts_espeak(agent: str, tmp_path: Path, fmt: str, codec: str) -> None:
    status, body = await call(agent, "tts", {"text": "the build is green", "format": fmt})
    assert status == 200, body
    info = probe(result_file(body), tmp_path, fmt)
    assert info["streams"][0]["codec_name"] == codec
    assert float(info["format"]["duration"]) > 0.5
    assert body["usage"]["provider_cost_usd"] == 0


async def test_tts_espeak_unknown_voice(agent: str) -> None:
    status, body = await call(agent, "tts", {"text": "hi", "voice": "nosuchvoice"})
    assert status == 422 and "no voice 'nosuchvoice'" in body["error"]["message"]


async def test_tts_google_via_fake(metadata: Any, media: dict[str, bytes]) -> None:
    fake = FakeGoogleSpeech(audio=b"ID3-fake-mp3-bytes")
    async with serve(fake.app()) as google:
        app = build(
            AgentSettings(auth="none"),
            MediaSettings(tts_engine="google", google_tts_url=google, google_tts_cost_per_char=0.00001),
        )
        async with serve(app) as base:
            status, body = await call(
                base, "tts", {"text": "hello there", "voice": "en-GB-Neural2-A", "speed": 240}
            )
    assert status == 200, body
    assert result_file(body) == b"ID3-fake-mp3-bytes"
    assert body["usage"]["provider"] == "google-tts"
    assert body["usage"]["provider_cost_usd"] == pytest.approx(11 * 0.00001)
    sent = fake.requests[-1]
    assert sent["headers"]["Authorization"].startswith("Bearer ya29.fake-access-token-")
    assert sent["json"] == {
        "input": {"text": "hello there"},
        "voice": {"languageCode": "en-GB", "name": "en-GB-Neural2-A"},
        "audioConfig": {"audioEncoding": "MP3", "speakingRate": 1.5},
    }


async def test_google_token_outage_is_googles_not_the_agents(metadata: Any) -> None:
    # Credentials found, then the token endpoint fails: a Google outage, retryable, and attributed
    # upstream so the caller's breaker (which also guards espeak and convert) does not count it.
    metadata.access_token_ttl_s = 60  # inside google-auth's refresh margin: every call refreshes
    fake = FakeGoogleSpeech(audio=b"ID3-fake-mp3-bytes")
    try:
        async with serve(fake.app()) as google:
            app = build(AgentSettings(auth="none"), MediaSettings(tts_engine="google", google_tts_url=google))
            async with serve(app) as base:
                status, _ = await call(base, "tts", {"text": "hello"})
                assert status == 200
                metadata.down = True
                status, body = await call(base, "tts", {"text": "hello"})
    finally:
        metadata.down = False
    assert status == 503, body
    assert body["error"]["retryable"] is True and body["error"]["source"] == "upstream"
    assert "Google access token" in body["error"]["message"]


@pytest.mark.usefixtures("no_google_credentials")
async def test_google_not_configured() -> None:
    # No metadata server answers and no key file: google.auth.default() finds nothing.
    app = build(
        AgentSettings(auth="none"),
        MediaSettings(tts_engine="google", google_tts_url="http://127.0.0.1:9"),
    )
    async with serve(app) as base:
        status, body = await call(base, "tts", {"text": "hello"})
        async with aiohttp.ClientSession() as session, session.get(f"{base}/health") as resp:
            report = await resp.json()
    assert status == 501 and body["error"]["code"] == "provider_not_configured"
    assert body["error"]["retryable"] is False
    assert "GOOGLE_APPLICATION_CREDENTIALS" in body["error"]["message"]
    assert report["engines"]["google-tts"] == {
        "available": False,
        "detail": "selected; credentials: no credentials",
    }


# ------------------------------------------------------------------------------------------- transcribe


async def test_transcribe_pocketsphinx(agent: str, media: dict[str, bytes]) -> None:
    status, body = await call(agent, "transcribe", {}, ("speech.wav", media["speech"], "audio/wav"))
    assert status == 200, body
    assert body["data"]["engine"] == "pocketsphinx"
    assert body["data"]["transcript"].strip()
    assert any("low" in w and "pocketsphinx" in w for w in body["warnings"])
    assert body["usage"]["provider"] is None


async def test_transcribe_pocketsphinx_refuses_other_languages(agent: str, media: dict[str, bytes]) -> None:
    status, body = await call(
        agent, "transcribe", {"language": "de-DE"}, ("s.wav", media["speech"], "audio/wav")
    )
    assert status == 422 and "only knows English" in body["error"]["message"]


async def test_transcribe_openai_via_fake(media: dict[str, bytes]) -> None:
    fake = FakeOpenAIAudio()
    async with serve(fake.app()) as openai:
        app = build(
            AgentSettings(auth="none"),
            MediaSettings(stt_engine="openai", openai_base_url=openai, openai_api_key=fake.api_key),
        )
        async with serve(app) as base:
            status, body = await call(
                base, "transcribe", {"language": "en-US"}, ("clip.mp4", media["video"], "video/mp4")
            )
    assert status == 200, body
    assert body["text"] == "hello from the fake whisper"
    assert body["usage"]["provider"] == "openai-transcription"
    assert body["usage"]["provider_cost_usd"] == pytest.approx(2 / 60 * 0.006, rel=0.1)
    sent = fake.requests[-1]
    assert sent["headers"]["Authorization"] == "Bearer sk-test-fake-key-123456"
    fields = sent["fields"]
    assert fields["model"] == "whisper-1" and fields["language"] == "en"
    assert fields["file"]["filename"] == "audio.flac" and fields["file"]["data"][:4] == b"fLaC"


async def test_transcribe_openai_not_configured(media: dict[str, bytes]) -> None:
    async with serve(build(AgentSettings(auth="none"), MediaSettings(stt_engine="openai"))) as base:
        status, body = await call(base, "transcribe", {}, ("s.wav", media["speech"], "audio/wav"))
    assert status == 501 and body["error"]["code"] == "provider_not_configured"
    assert "SPOTRUN_MEDIA_OPENAI_API_KEY" in body["error"]["message"]


@pytest.mark.parametrize(
    ("fake_kw", "status", "code", "phrase", "retryable"),
    [
        ({"fail_status": 500}, 502, "provider_error", "failed (500: fake failure)", True),
        ({"fail_status": 400}, 502, "provider_error", "rejected the request (400", False),
        ({"fail_status": 429}, 429, "rate_limited", "wait a minute", True),
        ({"api_key": "sk-other-key-000000"}, 502, "provider_error", "refused the agent's credentials", False),
        ({"delay_s": 3}, 504, "timeout", "did not finish within 1s", True),
    ],
)
async def test_transcribe_openai_failures(
    media: dict[str, bytes], fake_kw: dict[str, Any], status: int, code: str, phrase: str, retryable: bool
) -> None:
    fake = FakeOpenAIAudio(**fake_kw)
    async with serve(fake.app()) as openai:
        app = build(
            AgentSettings(auth="none"),
            MediaSettings(
                stt_engine="openai",
                openai_base_url=openai,
                openai_api_key="sk-test-fake-key-123456",
                provider_timeout_s=1,
            ),
        )
        async with serve(app) as base:
            got, body = await call(base, "transcribe", {}, ("s.wav", media["speech"], "audio/wav"))
    assert got == status, body
    assert body["error"]["code"] == code and phrase in body["error"]["message"]
    assert body["error"]["retryable"] is retryable
    # The provider's failure, never the agent's: the client's breaker must not count it.
    assert body["error"]["source"] == "upstream"
    assert len(fake.requests) == 1  # the agent itself does not retry either


async def test_transcribe_google_via_fake(metadata: Any, media: dict[str, bytes]) -> None:
    fake = FakeGoogleSpeech(transcript="hello world this is google")
    async with serve(fake.app()) as google:
        app = build(AgentSettings(auth="none"), MediaSettings(stt_engine="google", google_stt_url=google))
        async with serve(app) as base:
            status, body = await call(
                base, "transcribe", {"language": "en-GB"}, ("speech.wav", media["speech"], "audio/wav")
            )
            async with aiohttp.ClientSession() as session, session.get(f"{base}/health") as resp:
                report = await resp.json()
    assert status == 200, body
    assert body["text"] == "hello world this is google"
    assert body["data"]["confidence"] == pytest.approx(0.85)
    assert body["usage"]["provider"] == "google-stt" and body["usage"]["provider_cost_usd"] > 0
    sent = fake.requests[-1]
    assert sent["path"] == "/v1/speech:recognize"
    assert sent["headers"]["Authorization"].startswith("Bearer ya29.")
    config = sent["json"]["config"]
    assert (config["encoding"], config["sampleRateHertz"], config["languageCode"]) == ("FLAC", 16000, "en-GB")
    assert base64.b64decode(sent["json"]["audio"]["content"])[:4] == b"fLaC"
    assert report["engines"]["google-stt"] == {"available": True, "detail": "selected; credentials: ok"}


async def test_transcribe_google_server_error(metadata: Any, media: dict[str, bytes]) -> None:
    fake = FakeGoogleSpeech(fail_status=503)
    async with serve(fake.app()) as google:
        app = build(AgentSettings(auth="none"), MediaSettings(stt_engine="google", google_stt_url=google))
        async with serve(app) as base:
            status, body = await call(base, "transcribe", {}, ("speech.wav", media["speech"], "audio/wav"))
    assert status == 502 and "Google Speech-to-Text failed (503: fake failure)" in body["error"]["message"]


async def test_transcribe_google_refuses_long_audio(metadata: Any, media: dict[str, bytes]) -> None:
    app = build(
        AgentSettings(auth="none"),
        MediaSettings(stt_engine="google", google_stt_max_duration_s=1, google_stt_url="http://127.0.0.1:9"),
    )
    async with serve(app) as base:
        status, body = await call(base, "transcribe", {}, ("clip.mp4", media["video"], "video/mp4"))
    assert status == 413 and "up to 1 s" in body["error"]["message"]


# ----------------------------------------------------------------------------------------------- health


async def test_health_lists_engines(agent: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{agent}/health") as resp:
        report = await resp.json()
    assert report["status"] == "ok"
    engines = report["engines"]
    assert all(engines[e]["available"] for e in ("ffmpeg", "ffprobe", "espeak-ng", "pocketsphinx"))
    assert engines["google-tts"] == {"available": False, "detail": "not selected (SPOTRUN_MEDIA_TTS_ENGINE)"}
    assert engines["openai-transcription"]["available"] is False
    assert "SPOTRUN_MEDIA_OPENAI_API_KEY not set" in engines["openai-transcription"]["detail"]
