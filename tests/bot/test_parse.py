"""Command text -> protocol args: every command's good arguments, and wrong ones -> the usage line."""

from __future__ import annotations

import pytest

from bot.commands.parse import UsageError, parse, positional_fields
from spotrun.protocol import COMMANDS, Command, InputFile

CSV = InputFile(name="sales.csv", content_type="text/csv", data=b"a,b\n1,2\n")
PNG = InputFile(name="cat.png", content_type="image/png", data=b"\x89PNG....")
WAV = InputFile(name="memo.wav", content_type="audio/wav", data=b"RIFF....")

GOOD = [
    ("generate", '"a lighthouse at dusk" count=2', [], {"prompt": "a lighthouse at dusk", "count": 2}),
    ("generate", "a lighthouse at dusk, watercolor", [], {"prompt": "a lighthouse at dusk, watercolor"}),
    ("enhance", "scale=4", [PNG], {"scale": 4}),
    ("style-transfer", "van gogh starry night strength=0.8", [PNG], {"style": "van gogh starry night"}),
    ("scrape", "https://example.com/a", [], {"url": "https://example.com/a"}),
    ("extract", 'https://example.com "h2 a" attribute=href', [], {"selector": "h2 a", "attribute": "href"}),
    ("analyze", "columns=a,b", [CSV], {"columns": ["a", "b"]}),
    ("analyze", "", [CSV], {"columns": None}),
    ("chart", "line x=date y=revenue,cost", [CSV], {"kind": "line", "y": ["revenue", "cost"]}),
    ("predict", "revenue steps=12", [CSV], {"column": "revenue", "steps": 12}),
    ("transcribe", "language=de-DE", [WAV], {"language": "de-DE"}),
    ("tts", "hello everyone, the build is green", [], {"text": "hello everyone, the build is green"}),
    ("tts", "don't panic voice=en format=ogg", [], {"text": "don't panic", "format": "ogg"}),
    ("convert", "mp3", [WAV], {"target": "mp3"}),
]


@pytest.mark.parametrize(
    ("name", "text", "files", "expected"), GOOD, ids=[f"{g[0]}:{g[1][:20]}" for g in GOOD]
)
def test_good_arguments(name: str, text: str, files: list[InputFile], expected: dict[str, object]) -> None:
    parsed = parse(name, text, files)
    dumped = parsed.args.model_dump()
    for key, value in expected.items():
        assert dumped[key] == value
    assert parsed.files == files


def test_every_command_is_covered() -> None:
    assert {g[0] for g in GOOD} == {c.value for c in Command}


BAD = [
    ("generate", "", "The prompt is missing."),
    ("generate", "cat size=5x5", "`size`"),
    ("enhance", "scale=3", "`scale`"),
    ("enhance", "scale=2", "needs an attached file"),
    ("scrape", "notaurl", "http"),
    ("scrape", "", "The URL is missing."),
    ("extract", "https://example.com", "The selector is missing."),
    ("analyze", "colour=red", "unknown option"),
    ("chart", "pie", "The kind must be one of line, bar, histogram or scatter (you gave `pie`)"),
    ("predict", "revenue steps=0", "`steps`"),
    ("tts", "", "The text is missing."),
    ("tts", "hi speed=5", "`speed` must be at least 80 (you gave `5`)."),
    ("convert", "flac", "The target must be one of mp3"),
    ("transcribe", "language=english!", "`language`"),
]


@pytest.mark.parametrize(("name", "text", "problem"), BAD, ids=[f"{b[0]}:{b[1][:20]}" for b in BAD])
def test_wrong_arguments_give_the_usage_line(name: str, text: str, problem: str) -> None:
    files = (
        [WAV]
        if name in ("transcribe", "convert")
        else [CSV]
        if name in ("analyze", "chart", "predict")
        else []
    )
    with pytest.raises(UsageError) as info:
        parse(name, text, files)
    message = str(info.value)
    spec = COMMANDS[Command(name)]
    assert problem in message
    assert f"usage: `!{spec.usage}`" in message
    assert spec.example in message


def test_file_kind_and_size_are_checked() -> None:
    with pytest.raises(UsageError, match=r"takes images \(PNG, JPEG, WebP or GIF\)"):
        parse("enhance", "", [CSV])
    with pytest.raises(UsageError, match="limit is"):
        parse("analyze", "", [CSV], max_file_bytes=3)


def test_unknown_command() -> None:
    with pytest.raises(UsageError, match="unknown command"):
        parse("frobnicate", "")


def test_positional_fields_follow_the_usage_placeholders() -> None:
    assert positional_fields(COMMANDS[Command.EXTRACT]) == ["url", "selector"]
    assert positional_fields(COMMANDS[Command.CHART]) == ["kind"]
    assert positional_fields(COMMANDS[Command.ANALYZE]) == []


def test_local_file_path_becomes_the_attachment(tmp_path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("x,y\n1,2\n")
    parsed = parse("chart", f"bar {path} x=x y=y", local_files=True)
    assert parsed.files[0].name == "data.csv"
    assert parsed.files[0].content_type == "text/csv"
    assert parsed.args.kind == "bar"


def test_a_missing_local_file_is_named_not_taken_for_text(tmp_path) -> None:
    with pytest.raises(UsageError, match=r"cannot read .*missing\.csv: No such file"):
        parse("analyze", f"{tmp_path}/missing.csv", local_files=True)
