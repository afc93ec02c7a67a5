"""Every command's argument model round-trips over JSON; bad inputs are rejected with a reason."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from spotrun.protocol import (
    COMMANDS,
    AgentRequest,
    AgentResult,
    CallerContext,
    Command,
    ErrorBody,
    InputFile,
    OutputFile,
    Usage,
    parse_args,
)

GOOD: dict[Command, dict] = {
    Command.GENERATE: {"prompt": "a lighthouse at dusk", "size": "512x512", "count": 2},
    Command.ENHANCE: {"scale": 4, "sharpen": True, "denoise": True},
    Command.STYLE_TRANSFER: {"style": "ukiyo-e woodblock", "strength": 0.8},
    Command.SCRAPE: {"url": "https://example.com/a?b=c", "render_js": False},
    Command.EXTRACT: {"url": "http://example.com", "selector": "h2 > a", "attribute": "href", "limit": 5},
    Command.ANALYZE: {"columns": ["a", "b"]},
    Command.CHART: {"kind": "scatter", "x": "a", "y": ["b"], "title": "t"},
    Command.PREDICT: {"column": "revenue", "steps": 12, "method": "holt"},
    Command.TRANSCRIBE: {"language": "en-US"},
    Command.TTS: {"text": "hello there", "voice": "en-us", "format": "ogg", "speed": 170},
    Command.CONVERT: {"target": "mp3", "max_seconds": 30},
}

BAD: list[tuple[Command, dict, str]] = [
    (Command.GENERATE, {"prompt": "x" * 10_000}, "prompt"),
    (Command.GENERATE, {"prompt": ""}, "prompt"),
    (Command.GENERATE, {"prompt": "ok", "count": 9}, "count"),
    (Command.GENERATE, {"prompt": "ok", "size": "4000x4000"}, "size"),
    (Command.ENHANCE, {"scale": 3}, "scale"),
    (Command.STYLE_TRANSFER, {"style": "x", "strength": 2}, "strength"),
    (Command.SCRAPE, {"url": "file:///etc/passwd"}, "url"),
    (Command.SCRAPE, {"url": "javascript:alert(1)"}, "url"),
    (Command.SCRAPE, {"url": "https://" + "a" * 3000}, "url"),
    (Command.EXTRACT, {"url": "https://e.com", "selector": ""}, "selector"),
    (Command.EXTRACT, {"url": "https://e.com", "selector": "a", "attribute": "on click"}, "attribute"),
    (Command.CHART, {"kind": "pie"}, "kind"),
    (Command.PREDICT, {"column": "a", "steps": 0}, "steps"),
    (Command.TRANSCRIBE, {"language": "english please"}, "language"),
    (Command.TTS, {"text": "hi", "format": "flac"}, "format"),
    (Command.CONVERT, {"target": "exe"}, "target"),
    (Command.TTS, {"text": "hi", "unknown": 1}, "unknown"),
]


def test_every_command_has_a_spec_and_a_good_example():
    assert set(GOOD) == set(Command) == set(COMMANDS)


@pytest.mark.parametrize("command", list(Command))
def test_request_round_trip(command):
    spec = COMMANDS[command]
    files = [InputFile(name="../../in.bin", content_type="application/octet-stream", data=b"\x00\xffdata")]
    req = AgentRequest(
        job_id="job_01-x",
        command=command,
        args=parse_args(command, GOOD[command]),
        files=files if spec.needs_file else [],
        context=CallerContext(user_id="1", guild_id="2", channel_id="3"),
    )
    wire = req.model_dump_json()
    back = AgentRequest.model_validate_json(wire)
    assert back == req
    assert type(back.args) is spec.args
    assert back.args.model_dump() == spec.args.model_validate(GOOD[command]).model_dump()
    if spec.needs_file:
        assert back.files[0].data == b"\x00\xffdata" and back.files[0].name == "in.bin"


@pytest.mark.parametrize(("command", "raw", "field"), BAD, ids=[f"{c.value}-{f}" for c, _, f in BAD])
def test_bad_arguments_are_rejected_with_the_field(command, raw, field):
    with pytest.raises(ValidationError) as err:
        parse_args(command, raw)
    assert field in str(err.value)


def test_file_commands_need_a_file():
    with pytest.raises(ValidationError, match="needs an input file"):
        AgentRequest(
            job_id="j",
            command=Command.ANALYZE,
            args=parse_args(Command.ANALYZE, {}),
            context=CallerContext(user_id="1"),
        )


def test_job_id_is_a_safe_idempotency_key():
    with pytest.raises(ValidationError):
        AgentRequest(
            job_id="../x y",
            command=Command.TTS,
            args=parse_args(Command.TTS, {"text": "a"}),
            context=CallerContext(user_id="1"),
        )


def test_result_and_error_round_trip():
    res = AgentResult(
        job_id="j",
        command=Command.TTS,
        text="t",
        files=[OutputFile(name="a.mp3", content_type="audio/mpeg", data=b"ID3\x00")],
        usage=Usage(duration_ms=5, provider="espeak"),
    )
    assert AgentResult.model_validate_json(res.model_dump_json()) == res
    err = ErrorBody.model_validate({"error": {"code": "blocked_url", "message": "private address"}})
    assert err.error.retryable is False


def test_an_error_without_a_source_is_attributed_by_its_code():
    # Bodies from agents older than `source` still tell the client whose failure it was.
    def source(code: str, **extra: object) -> str:
        body = ErrorBody.model_validate({"error": {"code": code, "message": "m", **extra}})
        return body.error.source

    assert source("fetch_failed") == "input"
    assert source("invalid_argument") == "input"
    assert source("content_policy") == "input"
    assert source("provider_error") == "upstream"
    assert source("internal") == "agent"
    assert source("unavailable") == "agent"
    assert source("fetch_failed", source="upstream") == "upstream"  # an explicit verdict wins
    assert source("timeout", source=None) == "agent"
    round_trip = ErrorBody.model_validate_json(
        ErrorBody.model_validate(
            {"error": {"code": "timeout", "message": "m", "source": "upstream"}}
        ).model_dump_json()
    )
    assert round_trip.error.source == "upstream"
