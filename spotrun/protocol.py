"""The wire protocol spoken between the bot (through agent_client) and every agent.

One module, imported by both sides: the bot validates user input against the same
argument models the agents validate again, so a bad argument is refused before
anything is spent.

HTTP shape (see docs/protocol.md):
    GET  /health          -> HealthReport
    GET  /v1/manifest     -> AgentManifest (what the agent serves: commands, schemas, limits)
    POST /v1/<command>    AgentRequest -> 200 AgentResult | 4xx/5xx ErrorBody
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializeAsAny,
    ValidationInfo,
    field_validator,
    model_validator,
)

# major.minor: a client speaks every minor of the majors it knows; a new major is a breaking change
# (the bot refuses an agent whose major it does not speak). 1.1 added GET /v1/manifest.
PROTOCOL_VERSION = "1.1"
SUPPORTED_MAJORS = frozenset({1})


def protocol_major(version: str) -> int | None:
    """The major number of a protocol version ("1.1" -> 1, "1" -> 1); None when unreadable."""
    head = version.strip().split(".", 1)[0]
    return int(head) if head.isdigit() else None


# Headers every call carries. The job id doubles as the idempotency key, so a retried
# or re-dispatched (after preemption) call never does -- or bills -- the work twice.
IDEMPOTENCY_HEADER = "Idempotency-Key"
TRACEPARENT_HEADER = "traceparent"
CLOUD_TRACE_HEADER = "X-Cloud-Trace-Context"
# Every agent answer names the agent's build ("0.4.0" or "0.4.0@rev-00012"): a client notices a new
# deployment on any call and re-reads the manifest.
AGENT_BUILD_HEADER = "Spotrun-Agent-Build"


def agent_build(version: str, revision: str | None) -> str:
    return f"{version}@{revision}" if revision else version


MAX_FILE_BYTES = 25 * 1024 * 1024
UPLOAD_JSON = "json"
UPLOAD_MULTIPART = "multipart"
# A multipart request: this part first (the AgentRequest as JSON, its files' `data` empty), then one
# raw application/octet-stream part per file, in the order of `files`.
MULTIPART_REQUEST_PART = "request"
MULTIPART_FILE_PART = "file"  # every file part has this name; its place says which file
# Validation context key: the receiving agent's cap on one file's bytes (default MAX_FILE_BYTES).
MAX_FILE_BYTES_CONTEXT = "max_file_bytes"
MAX_FILES = 4
MAX_TEXT_CHARS = 16_000
JOB_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
# A command name is also a Discord command name: lower case, 1-32 characters.
COMMAND_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"
CommandName = Annotated[str, Field(pattern=COMMAND_NAME_PATTERN)]

_BYTES_AS_BASE64 = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")


class Command(StrEnum):
    """The built-in agents' commands. The wire carries any command name: an agent the bot has
    never heard of describes its own commands in its manifest."""

    GENERATE = "generate"
    ENHANCE = "enhance"
    STYLE_TRANSFER = "style-transfer"
    SCRAPE = "scrape"
    EXTRACT = "extract"
    ANALYZE = "analyze"
    CHART = "chart"
    PREDICT = "predict"
    TRANSCRIBE = "transcribe"
    TTS = "tts"
    CONVERT = "convert"


class ErrorCode(StrEnum):
    INVALID_ARGUMENT = "invalid_argument"
    UNSUPPORTED_MEDIA = "unsupported_media"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    BLOCKED_URL = "blocked_url"
    FETCH_FAILED = "fetch_failed"
    PROVIDER_NOT_CONFIGURED = "provider_not_configured"
    PROVIDER_ERROR = "provider_error"
    CONTENT_POLICY = "content_policy"
    ENGINE_UNAVAILABLE = "engine_unavailable"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"
    # A job id already used for another caller, command or request (HTTP 409): never replayed.
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"


# --------------------------------------------------------------------------- arguments

# `format: uri` in the JSON Schema tells a client (the bot's slash options) that this is a URL.
Url = Annotated[str, Field(min_length=8, max_length=2048, json_schema_extra={"format": "uri"})]


class CommandArgs(BaseModel):
    """Base of every command's arguments: unknown keys are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _hints(
    *, words: dict[str, list[str]] | None = None, cues: list[str] | None = None, kind: str | None = None
) -> dict[str, Any]:
    """JSON Schema extension keywords read by the bot's plain-language router (docs/routing.md):
    `x-words` phrases (any language) that name a value, `x-cues` words beside a number or a title
    that name this field, `x-kind` what the text is (column, x-column, language, css)."""
    extra: dict[str, Any] = {}
    if words:
        extra["x-words"] = words
    if cues:
        extra["x-cues"] = cues
    if kind:
        extra["x-kind"] = kind
    return extra


def _check_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/$.?#][^\s]*$", value, re.IGNORECASE):
        raise ValueError("must be an http:// or https:// URL")
    return value


class GenerateArgs(CommandArgs):
    prompt: str = Field(min_length=1, max_length=1000, description="what to draw, in words")
    size: Literal["256x256", "512x512", "1024x1024"] = Field(
        default="1024x1024", description="image size in pixels"
    )
    count: int = Field(
        default=1,
        ge=1,
        le=4,
        description="how many images",
        json_schema_extra=_hints(
            cues=[
                "images",
                "pictures",
                "versions",
                "variations",
                "imagens",
                "fotos",
                "imágenes",
                "versões",
                "versiones",
            ]
        ),
    )


class EnhanceArgs(CommandArgs):
    scale: Literal[1, 2, 4] = Field(
        default=2,
        description="upscale factor",
        json_schema_extra=_hints(
            words={
                "2": ["2x", "x2", "twice", "double", "2 times", "dobro", "duas vezes", "doble", "dos veces"],
                "4": [
                    "4x",
                    "x4",
                    "4 times",
                    "quadruple",
                    "4 vezes",
                    "quatro vezes",
                    "4 veces",
                    "cuatro veces",
                ],
            }
        ),
    )
    sharpen: bool = Field(default=True, description="sharpen edges")
    denoise: bool = Field(
        default=False,
        description="remove noise",
        json_schema_extra=_hints(
            words={
                "true": [
                    "denoise",
                    "noise",
                    "noisy",
                    "grain",
                    "grainy",
                    "ruído",
                    "ruido",
                    "granulado",
                    "limpa",
                    "limpia",
                ]
            }
        ),
    )
    engine: Literal["local", "provider"] = Field(
        default="local",
        description="local: Pillow, free; provider: the agent's super-resolution model (billed)",
        json_schema_extra=_hints(
            words={
                "provider": [
                    "super-resolution",
                    "super resolution",
                    "superresolution",
                    "ai upscaler",
                    "super-resolução",
                ]
            }
        ),
    )

    @model_validator(mode="after")
    def _provider_upscales(self) -> EnhanceArgs:
        # A super-resolution model is billed per image: refuse before anything is sent.
        if self.engine == "provider" and self.scale == 1:
            raise ValueError("engine=provider upscales: use scale=2 or scale=4")
        return self


class StyleTransferArgs(CommandArgs):
    style: str = Field(min_length=1, max_length=500, description="the style to redraw in, in words")
    strength: float = Field(
        default=0.6,
        ge=0.0,
        le=1.0,
        description="how strongly to apply it (0-1)",
        json_schema_extra=_hints(
            cues=["strength", "intensity", "força", "intensidade", "fuerza", "intensidad"]
        ),
    )


class ScrapeArgs(CommandArgs):
    url: Url = Field(description="the page to read (http:// or https://)")
    render_js: bool = Field(
        default=False,
        description="run the page's JavaScript first (slower)",
        json_schema_extra=_hints(
            words={"true": ["javascript", "js", "rendered", "render", "renderiza", "renderizar"]}
        ),
    )

    _url = field_validator("url")(_check_url)


class ExtractArgs(CommandArgs):
    url: Url = Field(description="the page to read (http:// or https://)")
    selector: str = Field(
        min_length=1,
        max_length=200,
        description="CSS selector, e.g. h2 a",
        json_schema_extra=_hints(
            kind="css",
            words={
                "a": ["links", "link", "enlaces", "hyperlinks"],
                "img": ["images", "imagens", "imágenes", "pictures", "fotos"],
                "h1": ["main heading", "h1"],
                "h2": [
                    "headings",
                    "headlines",
                    "subtitles",
                    "títulos",
                    "subtítulos",
                    "titulares",
                    "manchetes",
                ],
                "table": ["tables", "tabelas", "tablas"],
            },
        ),
    )
    attribute: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z_:][-A-Za-z0-9_:.]*$",
        description="take this attribute (e.g. href) instead of the text",
        json_schema_extra=_hints(
            words={
                "href": ["links", "link", "enlaces", "hyperlinks", "urls", "hrefs", "href"],
                "src": ["images", "imagens", "imágenes", "pictures", "fotos", "src"],
            }
        ),
    )
    limit: int = Field(
        default=20,
        ge=1,
        le=100,
        description="at most this many matches",
        json_schema_extra=_hints(
            cues=["first", "top", "results", "primeiros", "primeiras", "primeros", "primeras", "resultados"]
        ),
    )

    _url = field_validator("url")(_check_url)


class AnalyzeArgs(CommandArgs):
    columns: list[Annotated[str, Field(max_length=128)]] | None = Field(
        default=None,
        max_length=50,
        description="only these columns, comma-separated",
        json_schema_extra=_hints(kind="column"),
    )


class ChartArgs(CommandArgs):
    kind: Literal["line", "bar", "histogram", "scatter"] = Field(
        default="line",
        description="chart type",
        json_schema_extra=_hints(
            words={
                "line": [
                    "line",
                    "lines",
                    "linha",
                    "linhas",
                    "línea",
                    "lineas",
                    "trend",
                    "tendência",
                    "tendencia",
                ],
                "bar": ["bar", "bars", "barras", "barra", "column chart", "colunas", "columnas"],
                "histogram": ["histogram", "histograma", "distribution", "distribuição", "distribución"],
                "scatter": ["scatter", "scatterplot", "dispersão", "dispersion", "dispersión", "correlation"],
            }
        ),
    )
    x: str | None = Field(
        default=None,
        max_length=128,
        description="column for the x axis",
        json_schema_extra=_hints(kind="x-column"),
    )
    y: list[Annotated[str, Field(max_length=128)]] = Field(
        default_factory=list,
        max_length=8,
        description="columns to plot, comma-separated",
        json_schema_extra=_hints(kind="column"),
    )
    title: str | None = Field(
        default=None,
        max_length=200,
        description="chart title",
        json_schema_extra=_hints(
            kind="title",
            cues=["titled", "title", "called", "título", "intitulado", "chamado", "titulado", "llamado"],
        ),
    )


class PredictArgs(CommandArgs):
    column: str = Field(
        min_length=1,
        max_length=128,
        description="the numeric column to forecast",
        json_schema_extra=_hints(kind="column"),
    )
    steps: int = Field(
        default=10,
        ge=1,
        le=365,
        description="how many steps ahead",
        json_schema_extra=_hints(
            cues=[
                "steps",
                "periods",
                "hours",
                "days",
                "weeks",
                "months",
                "years",
                "quarters",
                "ahead",
                "next",
                "passos",
                "períodos",
                "horas",
                "dias",
                "semanas",
                "meses",
                "anos",
                "próximos",
                "próximas",
                "pasos",
                "periodos",
                "días",
                "años",
                "siguientes",
            ]
        ),
    )
    # auto picks by rolling holdouts; the others name one model (agents/data_analysis/forecast.py).
    method: Literal[
        "auto",
        "linear",
        "holt",
        "ets",
        "theta",
        "holt_winters",
        "seasonal_naive",
        "combined",
        "stl",
        "seasonal_mean",
        "weekly_naive",
        "mstl",
    ] = Field(
        default="auto",
        description="forecasting model; auto picks by rolling holdouts",
        json_schema_extra=_hints(
            words={
                "holt_winters": ["holt-winters", "holt winters"],
                "seasonal_naive": ["seasonal naive", "seasonal-naive", "naive sazonal", "ingenuo estacional"],
                "seasonal_mean": ["seasonal mean", "climatology", "média sazonal", "media estacional"],
                "weekly_naive": [
                    "same time last week",
                    "mesma hora da semana passada",
                    "misma hora de la semana pasada",
                ],
                "linear": ["linear", "linear trend", "regressão linear", "regresión lineal", "lineal"],
            }
        ),
    )
    x: str | None = Field(
        default=None,
        max_length=128,
        description="the time or order column",
        json_schema_extra=_hints(kind="x-column"),
    )


# The usage line's method list is the field's own, so a model added to PredictArgs shows up there too.
PREDICT_METHODS: tuple[str, ...] = get_args(PredictArgs.model_fields["method"].annotation)


class TranscribeArgs(CommandArgs):
    language: str = Field(
        default="en-US",
        pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
        description="spoken language, e.g. en-US, pt-BR",
        json_schema_extra=_hints(kind="language"),
    )


class TtsArgs(CommandArgs):
    text: str = Field(min_length=1, max_length=1000, description="what to say")
    voice: str = Field(
        default="en",
        max_length=64,
        pattern=r"^[A-Za-z0-9_+-]+$",
        description="voice or language, e.g. en, pt",
        json_schema_extra=_hints(kind="language"),
    )
    format: Literal["mp3", "ogg", "wav"] = Field(default="mp3", description="audio format")
    speed: int = Field(
        default=160,
        ge=80,
        le=400,
        description="words per minute",
        json_schema_extra=_hints(
            cues=["wpm", "words per minute", "palavras por minuto", "palabras por minuto"]
        ),
    )


class ConvertArgs(CommandArgs):
    target: Literal["mp3", "ogg", "opus", "wav", "mp4", "webm", "gif"] = Field(
        description="the format to convert to",
        # A named format wins over these words ("the audio of this video as ogg" -> ogg).
        json_schema_extra=_hints(words={"mp3": ["audio", "áudio", "sound", "som", "sonido"]}),
    )
    max_seconds: float | None = Field(
        default=None,
        gt=0,
        le=600,
        description="keep only the first N seconds",
        json_schema_extra=_hints(cues=["seconds", "secs", "sec", "s", "segundos", "seg"]),
    )


# ------------------------------------------------------------------------ command table


_PLACEHOLDER = re.compile(r"<[^>]+>")


class CommandSpec(BaseModel):
    """What the bot needs to know about a command before it dispatches anything. An agent declares
    its commands with these; the bot rebuilds them from the agent's manifest (CommandManifest)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    command: CommandName
    family: str  # the agent that serves it
    args: type[CommandArgs]
    needs_file: bool = False
    file_kinds: tuple[str, ...] = ()  # content-type prefixes accepted, e.g. "image/"
    # What a user would call those files ("CSV, TSV, JSON or Parquet files").
    file_words: str = ""
    # How many files a call reads (every built-in reads one); the slash form offers that many.
    max_files: int = Field(default=1, ge=0, le=MAX_FILES)
    # Whether a call may spend provider money (an image provider, a cloud speech API).
    costs_money: bool = False
    summary: str = Field(max_length=100)  # Discord's limit for a command description
    usage: str
    example: str
    # More phrasings for help and for routing plain-language requests (issue 14).
    examples: tuple[str, ...] = ()
    # Plain-language requests this command serves, in any language, for the bot's router
    # (bot/router): `{field}` marks where a free-text argument goes ("read this out loud: {text}").
    requests: tuple[str, ...] = ()
    # What the serving agent published (its manifest); None: the protocol's defaults.
    limits: CommandLimits | None = None

    @property
    def positional(self) -> list[str]:
        """The usage line's <placeholders> name the leading fields of the args model, in order."""
        count = len(_PLACEHOLDER.findall(self.usage.split("+")[0]))
        return list(self.args.model_fields)[:count]

    @property
    def takes_files(self) -> int:
        """How many files the command reads (0: none)."""
        return self.max_files if (self.needs_file or self.file_kinds) else 0

    def manifest(self, *, max_upload_bytes: int, timeout_s: float) -> CommandManifest:
        return CommandManifest(
            name=self.command,
            description=self.summary,
            usage=self.usage,
            examples=[self.example, *self.examples],
            requests=list(self.requests),
            positional=self.positional,
            args_schema=self.args.model_json_schema(),
            files=FileSpec(
                kinds=list(self.file_kinds),
                words=self.file_words,
                min=1 if self.needs_file else 0,
                max=self.takes_files,
            ),
            limits=CommandLimits(max_upload_bytes=max_upload_bytes, timeout_s=timeout_s),
            costs_money=self.costs_money,
        )


class FileSpec(BaseModel):
    kinds: list[str] = Field(default_factory=list, description="content-type prefixes accepted")
    words: str = Field(default="", description="the accepted files in a user's words")
    min: int = Field(default=0, ge=0, le=MAX_FILES)
    max: int = Field(default=0, ge=0, le=MAX_FILES)


class CommandLimits(BaseModel):
    max_upload_bytes: int = Field(gt=0)
    timeout_s: float = Field(gt=0)


class CommandManifest(BaseModel):
    """One command as an agent describes it: enough for a client to build, check and explain it."""

    name: CommandName
    description: str = Field(min_length=1, max_length=100)
    usage: str = Field(max_length=300)
    examples: list[str] = Field(default_factory=list, max_length=20)
    # Plain-language requests (any language) that this command serves; `{field}` marks a free-text
    # argument. Optional: a client routes natural-language requests with them (docs/routing.md).
    requests: list[Annotated[str, Field(max_length=300)]] = Field(default_factory=list, max_length=100)
    # The fields filled by bare words in the prefix form, in order (`!tts hello` -> text).
    positional: list[str] = Field(default_factory=list)
    args_schema: dict[str, Any]  # JSON Schema of the arguments (pydantic's model_json_schema)
    files: FileSpec = Field(default_factory=FileSpec)
    limits: CommandLimits
    costs_money: bool = False


class AgentManifest(BaseModel):
    """GET /v1/manifest: who the agent is and everything it serves."""

    agent: str
    version: str  # the package version
    revision: str | None = None  # the deployed image / Cloud Run revision, when known
    protocol: str = PROTOCOL_VERSION
    commands: list[CommandManifest]
    # How the agent takes a request's files: "json" (base64 in the body, every agent) and, from
    # agents that list it, "multipart" (raw parts; docs/protocol.md). An older manifest lacks the
    # field: JSON only, so a newer bot never sends multipart to an agent that cannot read it.
    uploads: list[str] = Field(default_factory=lambda: [UPLOAD_JSON])

    @property
    def takes_multipart(self) -> bool:
        return UPLOAD_MULTIPART in self.uploads

    @property
    def protocol_major(self) -> int | None:
        return protocol_major(self.protocol)

    @property
    def build(self) -> str:
        return agent_build(self.version, self.revision)


COMMANDS: dict[str, CommandSpec] = {
    spec.command: spec
    for spec in (
        CommandSpec(
            command=Command.GENERATE,
            requests=(
                "draw {prompt}",
                "generate an image of {prompt}",
                "make a picture of {prompt}",
                "create an illustration of {prompt}",
                "paint {prompt}",
                "i want a drawing of {prompt}",
                "show me an image of {prompt}",
                "desenhe {prompt}",
                "gere uma imagem de {prompt}",
                "gera uma imagem de {prompt}",
                "cria uma imagem de {prompt}",
                "faz um desenho de {prompt}",
                "quero uma ilustração de {prompt}",
                "dibuja {prompt}",
                "genera una imagen de {prompt}",
                "crea una ilustración de {prompt}",
                "hazme un dibujo de {prompt}",
                "quiero una imagen de {prompt}",
            ),
            family="image-gen",
            args=GenerateArgs,
            costs_money=True,
            examples=("!generate a red fox in the snow size=512x512",),
            summary="Generate images from a text prompt",
            usage="generate <prompt> [size=1024x1024] [count=1]",
            example='!generate "a lighthouse at dusk, watercolor" count=2',
        ),
        CommandSpec(
            command=Command.ENHANCE,
            requests=(
                "upscale this image",
                "make this photo bigger and sharper",
                "enhance this picture",
                "improve the quality of this photo",
                "increase the resolution of this image",
                "remove the noise from this photo",
                "this picture is blurry, fix it",
                "melhore a qualidade desta foto",
                "aumenta a resolução desta imagem",
                "deixa essa foto mais nítida",
                "tira o ruído da imagem",
                "amplia esta imagem",
                "mejora la calidad de esta foto",
                "aumenta la resolución de la imagen",
                "haz esta foto más nítida",
                "quita el ruido de esta imagen",
            ),
            family="image-gen",
            args=EnhanceArgs,
            needs_file=True,
            file_kinds=("image/",),
            file_words="images (PNG, JPEG, WebP or GIF)",
            examples=(
                "!enhance denoise=true (with a photo attached)",
                "!enhance scale=4 engine=provider (super-resolution by the image provider)",
            ),
            # engine=provider sends the image to the provider's upscaler, billed per image.
            costs_money=True,
            summary="Upscale, sharpen or denoise an attached image",
            usage="enhance [scale=2|4] [sharpen=true] [denoise=false] [engine=local|provider] + image",
            example="!enhance scale=4 (with an image attached)",
        ),
        CommandSpec(
            command=Command.STYLE_TRANSFER,
            requests=(
                "redraw this in the style of {style}",
                "make this photo look like {style}",
                "turn this picture into {style}",
                "apply a {style} style to this image",
                "restyle this image as {style}",
                "redesenha esta foto no estilo de {style}",
                "transforma esta imagem em {style}",
                "aplica o estilo {style} nesta foto",
                "deixa essa foto com cara de {style}",
                "redibuja esta imagen al estilo de {style}",
                "convierte esta foto en {style}",
                "aplica el estilo {style} a esta imagen",
                "haz que esta foto parezca {style}",
            ),
            family="image-gen",
            args=StyleTransferArgs,
            needs_file=True,
            file_kinds=("image/",),
            file_words="images (PNG, JPEG, WebP or GIF)",
            costs_money=True,
            summary="Redraw an attached image in a style",
            usage="style-transfer <style> [strength=0.6] + image attachment",
            example='!style-transfer "van gogh starry night" (with an image attached)',
        ),
        CommandSpec(
            command=Command.SCRAPE,
            requests=(
                "what does this page say?",
                "summarize this article",
                "read this web page",
                "what is this link about",
                "get the text of this site",
                "give me the main text of this url",
                "tl;dr of this article",
                "o que diz esta página?",
                "resume este artigo",
                "lê este site pra mim",
                "do que se trata este link",
                "pega o texto desta página",
                "¿qué dice esta página?",
                "resume este artículo",
                "lee esta página web",
                "de qué trata este enlace",
                "saca el texto de este sitio",
            ),
            family="web-scraper",
            args=ScrapeArgs,
            examples=("!scrape https://example.com/news render_js=true",),
            summary="Read a web page: title, metadata and main text",
            usage="scrape <url> [render_js=false]",
            example="!scrape https://example.com/article",
        ),
        CommandSpec(
            command=Command.EXTRACT,
            requests=(
                "get all the links from this page",
                "list the headings on this site",
                "extract the prices from this page",
                "pull every image url from this page",
                "scrape the table rows from this url",
                "grab the elements matching this selector",
                "pega todos os links desta página",
                "extrai os títulos deste site",
                "lista as imagens desta página",
                "extrae todos los enlaces de esta página",
                "saca los titulares de este sitio",
                "lista los elementos que coinciden con este selector",
            ),
            family="web-scraper",
            args=ExtractArgs,
            summary="Pull elements matching a CSS selector from a page",
            usage="extract <url> <css selector> [attribute=href] [limit=20]",
            example='!extract https://example.com "h2 a" attribute=href',
        ),
        CommandSpec(
            command=Command.ANALYZE,
            requests=(
                "summarize this csv",
                "describe this dataset",
                "give me statistics for this file",
                "analyze this spreadsheet",
                "what's in this data",
                "show the mean, min and max of each column",
                "resume esta planilha",
                "analisa estes dados",
                "estatísticas deste arquivo",
                "descreve este conjunto de dados",
                "analiza esta hoja de cálculo",
                "resume estos datos",
                "dame las estadísticas de este archivo",
                "describe este conjunto de datos",
            ),
            family="data-analysis",
            args=AnalyzeArgs,
            needs_file=True,
            file_kinds=("text/", "application/"),
            file_words="CSV, TSV, JSON or Parquet files",
            examples=("!analyze columns=revenue,cost (with sales.csv attached)",),
            summary="Summarise a CSV/TSV/JSON/Parquet file",
            usage="analyze [columns=a,b] + data file attachment",
            example="!analyze (with sales.csv attached)",
        ),
        CommandSpec(
            command=Command.CHART,
            requests=(
                "make a bar chart of revenue by month",
                "plot this data",
                "chart sales over time",
                "draw a line graph of this csv",
                "histogram of the prices",
                "scatter plot of price against area",
                "visualize these numbers",
                "faz um gráfico de barras da receita por mês",
                "plota estes dados",
                "gráfico de linha das vendas ao longo do tempo",
                "histograma dos preços",
                "gráfico de dispersão de preço por área",
                "haz un gráfico de barras de ingresos por mes",
                "grafica estos datos",
                "gráfico de líneas de las ventas en el tiempo",
                "histograma de los precios",
                "diagrama de dispersión de precio contra área",
            ),
            family="data-analysis",
            args=ChartArgs,
            needs_file=True,
            file_kinds=("text/", "application/"),
            file_words="CSV, TSV, JSON or Parquet files",
            examples=('!chart bar x=month y=revenue,cost title="Q1" (with sales.csv attached)',),
            summary="Chart columns of a data file as a PNG",
            usage="chart <line|bar|histogram|scatter> [x=col] [y=col,col] [title=...] + data file",
            example="!chart line x=date y=revenue (with sales.csv attached)",
        ),
        CommandSpec(
            command=Command.PREDICT,
            requests=(
                "forecast revenue for the next 12 months",
                "predict the next 30 days of sales",
                "what will sales be next quarter",
                "project this series forward",
                "estimate future values of this column",
                "extrapolate the trend",
                "prevê a receita dos próximos 12 meses",
                "faz uma previsão das vendas",
                "projeta esta série para frente",
                "quanto vamos vender nos próximos meses",
                "pronostica las ventas de los próximos 30 días",
                "predice los ingresos del próximo trimestre",
                "haz una proyección de esta serie",
                "cuánto vamos a vender el mes que viene",
            ),
            family="data-analysis",
            args=PredictArgs,
            needs_file=True,
            file_kinds=("text/", "application/"),
            file_words="CSV, TSV, JSON or Parquet files",
            examples=("!predict sales steps=30 method=holt (with daily.csv attached)",),
            summary="Forecast a numeric column N steps ahead",
            usage=f"predict <column> [steps=10] [method={'|'.join(PREDICT_METHODS)}] + data file",
            example="!predict revenue steps=12 (with sales.csv attached)",
        ),
        CommandSpec(
            command=Command.TRANSCRIBE,
            requests=(
                "transcribe this audio",
                "what is said in this recording",
                "write down what they say in this voice memo",
                "turn this voice message into text",
                "subtitles for this video",
                "transcreve este áudio",
                "o que ele fala nesta gravação",
                "passa este áudio para texto",
                "transcribe este audio",
                "qué dice esta grabación",
                "pasa esta nota de voz a texto",
            ),
            family="audio-video",
            args=TranscribeArgs,
            needs_file=True,
            file_kinds=("audio/", "video/", "application/ogg"),
            file_words="audio or video files (MP3, OGG, WAV, FLAC, MP4, WebM, GIF…)",
            costs_money=True,
            examples=("!transcribe language=pt-BR (with audio.mp3 attached)",),
            summary="Transcribe speech in an attached audio or video file",
            usage="transcribe [language=en-US] + audio/video attachment",
            example="!transcribe (with memo.ogg attached)",
        ),
        CommandSpec(
            command=Command.TTS,
            requests=(
                "read this out loud: {text}",
                "say {text}",
                "speak {text}",
                "turn this text into speech: {text}",
                "text to speech: {text}",
                "make an audio saying {text}",
                "lê em voz alta: {text}",
                "fala {text}",
                "diga {text}",
                "transforma em áudio: {text}",
                "grava um áudio dizendo {text}",
                "lee en voz alta: {text}",
                "di {text}",
                "convierte en audio: {text}",
                "haz un audio que diga {text}",
            ),
            family="audio-video",
            args=TtsArgs,
            costs_money=True,
            examples=("!tts bom dia a todos voice=pt format=ogg",),
            summary="Speak text as an audio file",
            usage="tts <text> [voice=en] [format=mp3|ogg|wav]",
            example="!tts hello everyone, the build is green",
        ),
        CommandSpec(
            command=Command.CONVERT,
            requests=(
                "convert this to mp3",
                "turn this video into a gif",
                "change the format of this file to wav",
                "extract the audio from this video",
                "make this clip a webm",
                "converte isso para mp3",
                "transforma este vídeo em gif",
                "muda o formato deste arquivo para ogg",
                "tira o áudio deste vídeo",
                "convierte esto a mp3",
                "pasa este vídeo a gif",
                "cambia el formato de este archivo a wav",
                "saca el audio de este video",
            ),
            family="audio-video",
            args=ConvertArgs,
            needs_file=True,
            file_kinds=("audio/", "video/", "image/gif", "application/ogg"),
            file_words="audio or video files (MP3, OGG, WAV, FLAC, MP4, WebM, GIF…)",
            examples=("!convert gif max_seconds=5 (with clip.mp4 attached)",),
            summary="Convert an attached audio/video file",
            usage="convert <mp3|ogg|opus|wav|mp4|webm|gif> + media attachment",
            example="!convert mp3 (with clip.wav attached)",
        ),
    )
}


def parse_args(command: Command | str, raw: dict[str, Any]) -> CommandArgs:
    """Validate raw arguments for a command; raises pydantic.ValidationError."""
    return COMMANDS[command].args.model_validate(raw)


# ---------------------------------------------------------------------------- request


class InputFile(BaseModel):
    """An input file: its bytes in `data` (the JSON form, base64 on the wire) or, when it arrived as
    a raw multipart part, in pieces (`from_pieces`). Agents read it through `size`, `content()` and
    `take_pieces()`, which serve both kinds; `data` is empty while the file is held in pieces."""

    model_config = _BYTES_AS_BASE64

    name: str = Field(min_length=1, max_length=255)
    content_type: str = Field(default="application/octet-stream", max_length=255)
    data: bytes
    # The raw upload as received (1 MiB reads), never serialized: a reader that frees each piece once
    # parsed never holds the whole file beside what it decoded (docs/protocol.md, "Multipart uploads").
    _pieces: list[bytes] | None = PrivateAttr(default=None)
    _size: int = PrivateAttr(default=0)

    @field_validator("data")
    @classmethod
    def _capped(cls, value: bytes, info: ValidationInfo) -> bytes:
        # The protocol's cap, unless the receiving agent validates with its own (AgentSettings.max_file_mb).
        cap = (info.context or {}).get(MAX_FILE_BYTES_CONTEXT, MAX_FILE_BYTES)
        if len(value) > cap:
            raise ValueError(f"Data should have at most {cap} bytes")
        return value

    @classmethod
    def from_pieces(cls, name: str, content_type: str, pieces: list[bytes]) -> InputFile:
        """A file held in `pieces`, in order; the name is checked as for any file."""
        file = cls(name=name, content_type=content_type, data=b"")
        file._pieces = pieces
        file._size = sum(len(p) for p in pieces)
        return file

    @property
    def in_pieces(self) -> bool:
        return self._pieces is not None

    @property
    def size(self) -> int:
        """The file's length in bytes (0 once its content was taken)."""
        return self._size if self._pieces is not None else len(self.data)

    def pieces(self) -> list[bytes]:
        """The file's bytes in order, without joining them (one piece for a file held whole)."""
        if self._pieces is not None:
            return list(self._pieces)
        return [self.data] if self.data else []

    def head(self, n: int) -> bytes:
        """The first `n` bytes, joining only the pieces they span."""
        if self._pieces is None:
            return self.data[:n]
        out: list[bytes] = []
        got = 0
        for piece in self._pieces:
            if got >= n:
                break
            out.append(piece)
            got += len(piece)
        return b"".join(out)[:n]

    def content(self) -> bytes:
        """The whole file as one buffer: a file in pieces is joined once and then held whole."""
        if self._pieces is not None:
            self.data = b"".join(self._pieces)
            self._pieces = None
        return self.data

    def take_pieces(self) -> list[bytes]:
        """Hand the bytes over and empty the file, so the caller can free each piece once used."""
        taken = self.pieces()
        self._pieces = None
        self.data = b""
        return taken

    def release(self) -> None:
        """Drop the file's bytes (a reader that decoded them needs them no more)."""
        self.take_pieces()

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        # Agents write inputs to temp dirs: never let a name climb out of one.
        base = value.replace("\\", "/").rsplit("/", 1)[-1]
        if base in {"", ".", ".."}:
            raise ValueError("file name is empty")
        return base


class CallerContext(BaseModel):
    user_id: str = Field(max_length=32)
    guild_id: str | None = Field(default=None, max_length=32)
    channel_id: str | None = Field(default=None, max_length=32)


class AgentRequest(BaseModel):
    model_config = _BYTES_AS_BASE64

    protocol: str = PROTOCOL_VERSION
    job_id: str = Field(pattern=JOB_ID_PATTERN)
    command: CommandName
    # A built-in command's args are typed here; another agent's stay a dict on the wire and are
    # validated by that agent against its own model (agents.common.app.dispatch).
    args: SerializeAsAny[CommandArgs] | dict[str, Any]
    files: list[InputFile] = Field(default_factory=list, max_length=MAX_FILES)
    context: CallerContext
    deadline_s: float | None = Field(default=None, gt=0, le=3600)

    @model_validator(mode="before")
    @classmethod
    def _typed_args(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("command") in COMMANDS:
            args = data.get("args") or {}
            if isinstance(args, dict):
                data = {**data, "args": COMMANDS[data["command"]].args.model_validate(args)}
        return data

    @model_validator(mode="after")
    def _files_present(self) -> AgentRequest:
        spec = COMMANDS.get(self.command)
        if spec is not None and spec.needs_file and not self.files:
            raise ValueError(f"{self.command} needs an input file")
        return self


# ----------------------------------------------------------------------------- result


class EmbedField(BaseModel):
    name: str = Field(max_length=256)
    value: str = Field(max_length=1024)
    inline: bool = True


class OutputFile(BaseModel):
    model_config = _BYTES_AS_BASE64

    name: str = Field(min_length=1, max_length=255)
    content_type: str
    data: bytes


class Usage(BaseModel):
    duration_ms: float = Field(ge=0, description="agent-measured handling time")
    provider: str | None = None
    provider_cost_usd: float = Field(default=0.0, ge=0)


class AgentResult(BaseModel):
    model_config = _BYTES_AS_BASE64

    job_id: str
    command: CommandName
    title: str | None = Field(default=None, max_length=256)
    text: str = Field(default="", max_length=MAX_TEXT_CHARS)
    fields: list[EmbedField] = Field(default_factory=list, max_length=25)
    files: list[OutputFile] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict, description="machine-readable extras")
    warnings: list[str] = Field(default_factory=list)
    usage: Usage


# ----------------------------------------------------------------------------- errors


# Who a failure is attributed to, which decides whether it counts against the caller's breaker
# for the agent (docs/protocol.md, "Retries and the breaker"):
#   agent     the agent itself failed (crash, overload, its own deadline): evidence it is unhealthy
#   input     the request was wrong (a bad argument, a URL that 404s or does not resolve)
#   upstream  a named third party failed or refused (a provider's 4xx/5xx, a site that is down)
ErrorSource = Literal["agent", "input", "upstream"]

_SOURCE_BY_CODE: dict[ErrorCode, ErrorSource] = {
    ErrorCode.INVALID_ARGUMENT: "input",
    ErrorCode.UNSUPPORTED_MEDIA: "input",
    ErrorCode.PAYLOAD_TOO_LARGE: "input",
    ErrorCode.NOT_FOUND: "input",
    ErrorCode.BLOCKED_URL: "input",
    ErrorCode.FETCH_FAILED: "input",
    ErrorCode.CONTENT_POLICY: "input",
    ErrorCode.IDEMPOTENCY_CONFLICT: "input",
    ErrorCode.PROVIDER_ERROR: "upstream",
}


def default_source(code: ErrorCode) -> ErrorSource:
    """The attribution of an error whose body does not name one (agents older than `source`)."""
    return _SOURCE_BY_CODE.get(code, "agent")


class ErrorInfo(BaseModel):
    code: ErrorCode
    message: str
    # The agent's verdict: may the same request succeed if sent again (same idempotency key)?
    retryable: bool = False
    source: ErrorSource = "agent"

    @model_validator(mode="before")
    @classmethod
    def _attribute_by_code(cls, data: Any) -> Any:
        # Backward compatible: a body without `source` is attributed by its code.
        if isinstance(data, dict) and data.get("source") is None and "code" in data:
            try:
                return {**data, "source": default_source(ErrorCode(data["code"]))}
            except ValueError:
                return data  # an unknown code: the field validator names it
        return data


class ErrorBody(BaseModel):
    error: ErrorInfo


# ----------------------------------------------------------------------------- health


class EngineStatus(BaseModel):
    available: bool
    detail: str = ""


class HealthReport(BaseModel):
    agent: str
    version: str
    status: Literal["ok", "degraded"] = "ok"
    commands: list[str]
    # Since 1.1: lets a client notice a new deployment (and re-read the manifest) from /health.
    protocol: str = "1"
    revision: str | None = None

    @property
    def build(self) -> str:
        return agent_build(self.version, self.revision)

    engines: dict[str, EngineStatus] = Field(default_factory=dict)
