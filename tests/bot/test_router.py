"""The offline router and its extractors: commands known only through manifests, arguments checked
by the same typed models as `!x`, and a new command routable without code."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import Field

from bot.router import FileInfo, OfflineRouter, Routable
from bot.router.extract import extract
from bot.router.readings import command_line
from bot.router.text import Folded, fold, near_miss
from spotrun.protocol import COMMANDS, CommandArgs, CommandSpec

SALES = FileInfo("sales.csv", "text/csv", 100, ("month", "revenue", "cost"))
VENDAS = FileInfo("vendas.csv", "text/csv", 100, ("mes", "receita", "custo"))
PHOTO = FileInfo("photo.jpg", "image/jpeg", 100)
MEMO = FileInfo("memo.ogg", "audio/ogg", 100)
CLIP = FileInfo("clip.mp4", "video/mp4", 100)


def builtins() -> list[Routable]:
    return [Routable(s, s.args.model_json_schema()) for s in COMMANDS.values()]


@pytest.fixture(scope="module")
def router() -> OfflineRouter:
    return OfflineRouter(builtins())


def args_of(command: str, text: str, files: tuple[FileInfo, ...] = ()) -> dict[str, Any]:
    spec = COMMANDS[command]
    templates = (*spec.requests, *(f"{command} {{{k}}}" for k in spec.positional))
    return extract(spec.args.model_json_schema(), spec.positional, templates, text, files)


# ------------------------------------------------------------------------------ text


def test_folding_keeps_the_way_back_to_the_original() -> None:
    f = Folded.of("Gráfico de DISPERSÃO")
    assert f.text == "grafico de dispersao"
    start, end = f.span(f.text.index("dispersao"), len(f.text))
    assert f.original[start:end] == "DISPERSÃO"
    assert fold("Ñandú") == "nandu"


def test_near_miss_is_one_edit_on_longer_words() -> None:
    assert (
        near_miss("hystogram", "histogram")
        and near_miss("scater", "scatter")
        and near_miss("trancreve", "transcreve")
    )
    assert near_miss("chrat", "chart")  # two neighbours swapped
    assert not near_miss("bar", "car") and not near_miss("scatter", "shatter1")


# ------------------------------------------------------------------------ extractors


@pytest.mark.parametrize(
    ("command", "text", "files", "expected"),
    [
        ("chart", "bar chart of revenue by month", (SALES,), {"kind": "bar", "x": "month", "y": ["revenue"]}),
        (
            "chart",
            "gráfico de dispersão do custo contra a receita",
            (VENDAS,),
            {"kind": "scatter", "x": "receita", "y": ["custo"]},
        ),
        ("chart", "hystogram of the costs", (SALES,), {"kind": "histogram", "y": ["cost"]}),
        (
            "chart",
            'revenue by month titled "Q1 results"',
            (SALES,),
            {"title": "Q1 results", "x": "month", "y": ["revenue"]},
        ),
        (
            "predict",
            "forecast revenue for the next 12 months using holt-winters",
            (SALES,),
            {"column": "revenue", "steps": 12, "method": "holt_winters"},
        ),
        ("predict", "prevê a receita dos próximos 7 dias", (VENDAS,), {"column": "receita", "steps": 7}),
        (
            "scrape",
            "what does https://example.com/a?b=1 say, with javascript",
            (),
            {"url": "https://example.com/a?b=1", "render_js": True},
        ),
        (
            "extract",
            "all the links from https://example.com/news",
            (),
            {"url": "https://example.com/news", "selector": "a", "attribute": "href"},
        ),
        (
            "extract",
            "pull #main .price from https://example.com",
            (),
            {"url": "https://example.com", "selector": "#main .price"},
        ),
        (
            "extract",
            "first 5 h2 from https://example.com",
            (),
            {"url": "https://example.com", "selector": "h2", "limit": 5},
        ),
        (
            "tts",
            "read this out loud in portuguese: bom dia a todos",
            (),
            {"text": "bom dia a todos", "voice": "pt"},
        ),
        ("tts", 'say "hello team" as ogg', (), {"text": "hello team", "format": "ogg"}),
        ("tts", "di hola a todos en español", (), {"text": "hola a todos", "voice": "es"}),
        ("transcribe", "transcreve esse áudio em inglês", (MEMO,), {"language": "en-US"}),
        ("convert", "convert this wav to ogg", (), {"target": "ogg"}),
        ("convert", "gif of the first 3 seconds", (CLIP,), {"target": "gif", "max_seconds": 3.0}),
        ("convert", "extract the audio from this video", (CLIP,), {"target": "mp3"}),
        ("enhance", "upscale this 4x with super resolution", (PHOTO,), {"scale": 4, "engine": "provider"}),
        (
            "generate",
            "generate 4 images of a robot reading a book",
            (),
            {"prompt": "a robot reading a book", "count": 4},
        ),
        (
            "generate",
            "cria 2 imagens de uma floresta mágica",
            (),
            {"prompt": "uma floresta mágica", "count": 2},
        ),
        ("style-transfer", "aplica el estilo dalí a esta imagen", (PHOTO,), {"style": "dalí"}),
        ("predict", "forecast cost steps=30", (SALES,), {"column": "cost", "steps": "30"}),
    ],
)
def test_extractors_fill_what_the_words_say(
    command: str, text: str, files: tuple[FileInfo, ...], expected: dict[str, Any]
) -> None:
    assert args_of(command, text, files) == expected


def test_a_number_words_in_portuguese_is_not_taken_for_spanish() -> None:
    # "dos" is "of the" in Portuguese and "two" in Spanish: a digit beside a cue wins.
    assert (
        args_of(
            "predict",
            "prevê as vendas dos próximos 7 dias",
            (FileInfo("d.csv", "text/csv", 1, ("data", "vendas")),),
        )["steps"]
        == 7
    )


def test_an_out_of_range_number_is_left_to_the_default() -> None:
    assert "limit" not in args_of("extract", "the first 1000 results from https://example.com")


# ---------------------------------------------------------------------------- router


def test_a_clear_request_runs_with_the_line_a_user_would_type(router: OfflineRouter) -> None:
    d = router.route("make a bar chart of revenue by month", [SALES])
    assert d.outcome == "run" and d.top is not None
    assert d.top.line == "!chart bar x=month y=revenue"
    assert d.top.args == {"kind": "bar", "x": "month", "y": ["revenue"], "title": None}


def test_the_typed_model_is_the_judge(router: OfflineRouter) -> None:
    # A URL is required by scrape: without one the router says so instead of starting anything.
    d = router.route("summarize this article for me please")
    assert d.outcome in ("need", "choose", "none")
    if d.outcome == "need":
        assert d.top is not None and "URL" in (d.top.problem or "")


def test_a_file_the_command_needs_is_asked_for(router: OfflineRouter) -> None:
    d = router.route("forecast revenue for the next 12 months")
    assert d.outcome == "need" and d.top is not None and d.top.command == "predict"
    assert "attach" in (d.top.problem or "")


def test_nonsense_matches_nothing(router: OfflineRouter) -> None:
    for text in ("lol", "kkkkk", "order a pizza", "who won the game last night"):
        assert router.route(text).outcome == "none", text


def test_ambiguity_offers_readings_and_runs_nothing(router: OfflineRouter) -> None:
    d = router.route("trend line of cost", [SALES])
    assert d.outcome == "choose"
    assert {r.command for r in d.readings} >= {"chart", "predict"}


def test_a_typed_command_after_the_mention_is_taken_as_typed(router: OfflineRouter) -> None:
    d = router.route("!chart histogram y=cost", [SALES])
    assert d.outcome == "run" and d.top is not None and d.top.line == "!chart histogram y=cost"
    # Without the prefix or an option it is a sentence, routed like any other.
    d = router.route("predict future sales", [FileInfo("d.csv", "text/csv", 1, ("date", "sales"))])
    assert d.top is not None and d.top.args["column"] == "sales"


def test_an_attachment_of_the_wrong_kind_pulls_away(router: OfflineRouter) -> None:
    assert router.route("make this sharper", [PHOTO]).top.command == "enhance"  # type: ignore[union-attr]
    assert router.route("what is said here", [MEMO]).top.command == "transcribe"  # type: ignore[union-attr]


def test_routing_takes_milliseconds(router: OfflineRouter) -> None:
    import time

    started = time.perf_counter()
    for _ in range(20):
        router.route("faz um gráfico de barras da receita por mês", [VENDAS])
    assert (time.perf_counter() - started) / 20 < 0.05  # the goal is p50 ≤ 20 ms; slack for a busy CI


# ------------------------------------------------------------------ a new command, no code


class ReverseArgs(CommandArgs):
    text: str = Field(min_length=1, max_length=200, description="what to reverse")
    times: int = Field(
        default=1,
        ge=1,
        le=3,
        description="how often",
        json_schema_extra={"x-cues": ["times", "vezes", "veces"]},
    )


REVERSE = CommandSpec(
    command="reverse",
    family="mirror",
    args=ReverseArgs,
    summary="Reverse a text",
    usage="reverse <text> [times=1]",
    example="!reverse hello",
    requests=(
        "reverse this text: {text}",
        "write {text} backwards",
        "inverte o texto {text}",
        "escribe {text} al revés",
    ),
)


def test_a_new_command_is_routable_from_its_manifest_alone() -> None:
    manifest = REVERSE.manifest(max_upload_bytes=1000, timeout_s=10)
    assert manifest.requests and manifest.args_schema["properties"]["times"]["x-cues"] == [
        "times",
        "vezes",
        "veces",
    ]
    from bot.commands.catalog import spec_from_manifest

    spec = spec_from_manifest("mirror", manifest)  # what the bot rebuilds: no protocol model
    router = OfflineRouter([*builtins(), Routable(spec, manifest.args_schema)])
    d = router.route("inverte o texto bom dia 2 vezes")
    assert d.outcome == "run" and d.top is not None
    assert d.top.command == "reverse" and d.top.args == {"text": "bom dia", "times": 2}
    assert d.top.line == '!reverse "bom dia" times=2'


def test_command_line_leaves_defaults_out() -> None:
    spec = COMMANDS["tts"]
    args = spec.args.model_validate({"text": "hi there", "format": "ogg"})
    assert command_line(spec, args) == '!tts "hi there" format=ogg'


@pytest.mark.parametrize(
    ("data", "columns"),
    [
        (b"month,revenue,cost\nJan,1,2\n", ["month", "revenue", "cost"]),
        (b"\xef\xbb\xbfdata;receita;custo\n2024-01-01;1;2\n", ["data", "receita", "custo"]),
        (b"fecha\tventas\n2024-01-01\t3\n", ["fecha", "ventas"]),
        (b'"net revenue","unit cost"\n1,2\n', ["net revenue", "unit cost"]),
        (b"", []),
    ],
)
def test_the_header_of_an_attached_table(data: bytes, columns: list[str]) -> None:
    from bot.router.start import header_of

    assert header_of(data) == columns


def test_every_built_in_agent_publishes_requests_and_hints() -> None:
    import importlib

    from agents.common.app import MANIFEST
    from agents.common.settings import AgentSettings
    from spotrun.protocol import AgentManifest

    for module in (
        "agents.image_gen.app",
        "agents.web_scraper.app",
        "agents.data_analysis.app",
        "agents.audio_video.app",
    ):
        app = importlib.import_module(module).build(AgentSettings(auth="none"))
        manifest = AgentManifest.model_validate_json(app[MANIFEST].model_dump_json())  # as the bot reads it
        for command in manifest.commands:
            assert len(command.requests) >= 10, command.name
            words = " ".join(command.requests).lower()
            # English, Portuguese and Spanish phrasings, by a word each language has and the others lack
            assert any(w in words for w in ("this", "the ", " of ")), command.name
            assert any(
                w in words
                for w in ("ção", "ão", "essa", "esta foto", "desta", "deste", "lê ", "faz ", "diga")
            ), command.name
            assert any(
                w in words for w in ("ción", "¿", "haz ", "esta imagen", "este ", "lee ", "di ", "saca ")
            ), command.name
        if manifest.agent == "data-analysis":
            chart = next(c for c in manifest.commands if c.name == "chart")
            assert chart.args_schema["properties"]["kind"]["x-words"]["bar"]
            assert chart.args_schema["properties"]["x"]["x-kind"] == "x-column"
