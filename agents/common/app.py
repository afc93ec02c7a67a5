"""The agent app factory and runner every agent uses: routes, middlewares, lifecycle."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from pydantic import ValidationError

from agents.common.admission import HeavyWork, instance_memory_bytes, slots_for
from agents.common.auth import IdTokenVerifier
from agents.common.errors import (
    AgentFailure,
    error_middleware,
    failure_response,
)
from agents.common.errors import (
    Handler as MiddlewareHandler,
)
from agents.common.idempotency import (
    IdempotencyCache,
    IdempotencyConflict,
    StoredResponse,
    request_fingerprint,
)
from agents.common.manifest import build_manifest, manifest_response
from agents.common.settings import AgentSettings
from spotrun import __version__
from spotrun.config import exit_on_settings_error, load_settings
from spotrun.logs import configure_logging, get_logger
from spotrun.protocol import (
    AGENT_BUILD_HEADER,
    COMMANDS,
    IDEMPOTENCY_HEADER,
    MAX_FILE_BYTES_CONTEXT,
    MULTIPART_REQUEST_PART,
    PROTOCOL_VERSION,
    UPLOAD_JSON,
    UPLOAD_MULTIPART,
    AgentManifest,
    AgentRequest,
    AgentResult,
    CommandSpec,
    EmbedField,
    EngineStatus,
    ErrorCode,
    HealthReport,
    InputFile,
    OutputFile,
    Usage,
)
from spotrun.trace import TraceContext

log = get_logger("agents")

SETTINGS: web.AppKey[AgentSettings] = web.AppKey("settings", AgentSettings)
SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("session", aiohttp.ClientSession)
VERIFIER: web.AppKey[IdTokenVerifier | None] = web.AppKey("verifier")
IDEMPOTENCY: web.AppKey[IdempotencyCache] = web.AppKey("idempotency", IdempotencyCache)
SPEC: web.AppKey[AgentSpec] = web.AppKey("spec")
HEAVY: web.AppKey[HeavyWork] = web.AppKey("heavy", HeavyWork)
MANIFEST: web.AppKey[AgentManifest] = web.AppKey("manifest", AgentManifest)
# Who called: the verified token's email, or "anonymous" when auth is off (local runs).
CALLER: web.RequestKey[str] = web.RequestKey("caller", str)
ANONYMOUS = "anonymous"


@dataclass
class Output:
    """What a handler returns; the runtime adds job id, command and measured usage."""

    text: str = ""
    title: str | None = None
    fields: list[EmbedField] = field(default_factory=list)
    files: list[OutputFile] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    provider: str | None = None
    provider_cost_usd: float = 0.0


@dataclass
class Job:
    """One request being handled: its validated arguments, files, deadline and app resources."""

    request: AgentRequest
    app: web.Application
    deadline: float  # time.monotonic() value

    @property
    def args(self) -> Any:
        return self.request.args

    @property
    def files(self) -> list[InputFile]:
        return self.request.files

    def file(self) -> InputFile:
        if not self.request.files:
            raise AgentFailure(ErrorCode.INVALID_ARGUMENT, "this command needs an attached file")
        return self.request.files[0]

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    @property
    def session(self) -> aiohttp.ClientSession:
        return self.app[SESSION]

    def heavy(self) -> AbstractAsyncContextManager[None]:
        """A heavy-work slot of this instance for the block (429 if none frees up in time)."""
        return self.app[HEAVY].slot(self.remaining())


CommandHandler = Callable[[Job], Awaitable[Output]]
CleanupCtx = Callable[[web.Application], AsyncIterator[None]]


@dataclass
class AgentSpec:
    """Everything specific to one agent: its handlers, engine probes and resources."""

    name: str
    # Command name -> handler. A built-in command (spotrun.protocol.COMMANDS) is described by the
    # protocol's table; any other is described by an entry in `commands`.
    handlers: dict[str, CommandHandler]
    commands: Sequence[CommandSpec] = ()
    engines: Callable[[web.Application], dict[str, EngineStatus]] = lambda app: {}
    contexts: Sequence[CleanupCtx] = ()
    # Engines may be "available" yet the agent is degraded if a required one is missing.
    required_engines: Sequence[str] = ()
    # Memory one heavy job of this agent may take at its input caps, and what the process itself
    # needs: together with the instance's memory they size the heavy-work slots (agents.common.admission).
    heavy_job_mb: float = 512.0
    base_mb: float = 256.0
    # The agent's own cap on one input file, when below the runtime's: a multipart upload past it is
    # refused while it arrives, before the rest is read (the handler checks JSON uploads itself).
    max_file_bytes: int | None = None
    # Whether the handlers read files through `size`/`content()`/`take_pieces()` (which serve a file
    # received in pieces) rather than `file.data`. Off: the runtime joins a multipart upload's pieces
    # into `data` before the handler runs, so an agent written against `data` works unchanged.
    reads_pieces: bool = False

    def specs(self) -> dict[str, CommandSpec]:
        """Every served command's spec: its own declaration first, else the protocol's table."""
        own = {s.command: s for s in self.commands}
        missing = [c for c in self.handlers if c not in own and c not in COMMANDS]
        if missing:
            raise ValueError(f"agent {self.name}: no CommandSpec for {missing}; add it to `commands`")
        return {c: own.get(c) or COMMANDS[c] for c in self.handlers}


# ------------------------------------------------------------------------- middlewares


@web.middleware
async def trace_middleware(request: web.Request, handler: MiddlewareHandler) -> web.StreamResponse:
    trace = TraceContext.from_headers(request.headers) or TraceContext.new()
    started = time.monotonic()
    with structlog.contextvars.bound_contextvars(
        trace_id=trace.trace_id,
        span_id=trace.span_id,
        job_id=request.headers.get(IDEMPOTENCY_HEADER),
    ):
        response = await handler(request)
        response.headers[AGENT_BUILD_HEADER] = request.app[MANIFEST].build
        if request.path != "/health":
            log.info(
                "request",
                httpRequest={
                    "requestMethod": request.method,
                    "requestUrl": request.path,
                    "status": response.status,
                    "latency": f"{time.monotonic() - started:.3f}s",
                    "requestSize": str(request.content_length or 0),
                },
            )
        return response


@web.middleware
async def auth_middleware(request: web.Request, handler: MiddlewareHandler) -> web.StreamResponse:
    verifier = request.app[VERIFIER]
    request[CALLER] = ANONYMOUS
    if verifier is not None and request.path != "/health":
        claims = await verifier.verify(request.headers.get("Authorization"))
        # Google service-account tokens carry the email; `sub` is the stable id otherwise.
        request[CALLER] = str(claims.get("email") or f"sub:{claims.get('sub')}")
        structlog.contextvars.bind_contextvars(caller=claims.get("email"))
    return await handler(request)


# ----------------------------------------------------------------------------- routes


async def health(request: web.Request) -> web.Response:
    spec = request.app[SPEC]
    engines = spec.engines(request.app)
    degraded = any(not engines[e].available for e in spec.required_engines if e in engines)
    report = HealthReport(
        agent=spec.name,
        version=__version__,
        status="degraded" if degraded else "ok",
        commands=list(spec.handlers),
        engines=engines,
        protocol=PROTOCOL_VERSION,
        revision=request.app[MANIFEST].revision,
    )
    return web.Response(body=report.model_dump_json().encode(), content_type="application/json")


async def manifest(request: web.Request) -> web.Response:
    return manifest_response(request.app[MANIFEST])


async def dispatch(request: web.Request) -> web.Response:
    spec = request.app[SPEC]
    command = request.match_info["command"]
    if command not in spec.handlers:
        raise AgentFailure(ErrorCode.NOT_FOUND, f"the {spec.name} agent does not serve {command!r}")
    # A ValidationError here becomes a 422 with `field: reason` in the error middleware.
    if request.content_type == "multipart/form-data":
        payload = await _read_multipart(request, _file_cap(request.app))
        if not spec.reads_pieces:
            for file in payload.files:
                file.content()
    else:
        # The runtime's cap: the handler checks the agent's own, with its own message, as it always did.
        payload = AgentRequest.model_validate_json(
            await _read_body(request),
            context={MAX_FILE_BYTES_CONTEXT: int(request.app[SETTINGS].max_file_mb * 2**20)},
        )
    if payload.command != command:
        raise AgentFailure(ErrorCode.INVALID_ARGUMENT, "command in body does not match the URL")
    if isinstance(payload.args, dict):
        # Not a built-in command: this agent's own model validates it (the same one its manifest
        # publishes), exactly as the protocol does for the built-ins.
        own = spec.specs()[command]
        payload.args = own.args.model_validate(payload.args)
        if own.needs_file and not payload.files:
            raise AgentFailure(ErrorCode.INVALID_ARGUMENT, f"{command} needs an input file")
    structlog.contextvars.bind_contextvars(job_id=payload.job_id, command=command)
    key = request.headers.get(IDEMPOTENCY_HEADER, payload.job_id)
    if key != payload.job_id:
        raise AgentFailure(ErrorCode.INVALID_ARGUMENT, "Idempotency-Key must equal job_id")

    async def work() -> StoredResponse:
        try:
            return await _run(request.app, spec, command, payload)
        except AgentFailure as exc:
            resp = failure_response(exc)
            assert isinstance(resp.body, bytes)
            return StoredResponse(resp.status, resp.body)

    fingerprint = await request_fingerprint(request[CALLER], payload)
    try:
        stored, replayed = await request.app[IDEMPOTENCY].run(
            payload.job_id, fingerprint, work, keep=lambda r: r.status < 500 and r.status != 429
        )
    except IdempotencyConflict:
        # A client bug or a guessed id: worth an operator's eye, and never another caller's answer.
        log.warning("idempotency conflict", job_id=payload.job_id, caller=request[CALLER])
        raise AgentFailure(
            ErrorCode.IDEMPOTENCY_CONFLICT,
            f"job id {payload.job_id} was already used for another request "
            "(another caller, command, arguments, user or files); use a new job id",
            status=409,
            retryable=False,
        ) from None
    if replayed:
        log.info("idempotent replay", job_id=payload.job_id)
    return web.Response(
        status=stored.status,
        body=stored.body,
        content_type="application/json",
        headers={"Idempotent-Replay": "true"} if replayed else None,
    )


async def _read_body(request: web.Request) -> bytearray:
    """The body, read under the app's size cap, that the request does not keep.

    `request.read()` caches the body on the request (and copies it once more from its buffer), so
    an upload's base64 JSON — 4/3 of the file — stayed alive beside the decoded file for the whole
    job. The caller drops this buffer once it is parsed.
    """
    return await _read_capped(request.content.readany, _body_limit(request))


def _body_limit(request: web.Request) -> int:
    """The app's cap on a request body; a declared length past it is refused before a byte is read."""
    limit = int(request.app[SETTINGS].max_request_mb * 1024 * 1024)
    if (request.content_length or 0) > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length or 0)
    return limit


async def _read_capped(read: Callable[[], Awaitable[bytes]], limit: int) -> bytearray:
    """Chunks from `read` (b"" at the end) into one buffer, refused as soon as it passes `limit`."""
    body = bytearray()
    while chunk := await read():
        body += chunk
        if len(body) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
    return body


def _file_cap(app: web.Application) -> int:
    """The most bytes one input file may hold here: the runtime's setting, or the agent's own cap."""
    cap = int(app[SETTINGS].max_file_mb * 2**20)
    own = app[SPEC].max_file_bytes
    return min(cap, own) if own else cap


_PIECE_BYTES = 1 << 20


async def _read_multipart(request: web.Request, file_cap: int) -> AgentRequest:
    """A multipart request: its `request` part (the AgentRequest, files without data), then one raw
    part per file, each read in 1 MiB pieces the file keeps (`InputFile.from_pieces`).

    No base64 and no whole body: the upload is never in memory twice. The body cap and the per-file
    cap are checked as the bytes arrive, so an oversized upload is refused before the rest is read.
    """
    limit = _body_limit(request)
    received = 0
    try:
        reader = await request.multipart()
        part = await reader.next()
        if not isinstance(part, aiohttp.BodyPartReader) or part.name != MULTIPART_REQUEST_PART:
            raise AgentFailure(
                ErrorCode.INVALID_ARGUMENT,
                f"a multipart request starts with its {MULTIPART_REQUEST_PART!r} part (the JSON request)",
            )
        head = await _read_capped(lambda: part.read_chunk(_PIECE_BYTES), limit)
        received = len(head)
        payload = AgentRequest.model_validate_json(head, context={MAX_FILE_BYTES_CONTEXT: file_cap})
        del head
        files = []
        for declared in payload.files:
            part = await reader.next()
            if not isinstance(part, aiohttp.BodyPartReader):
                raise AgentFailure(
                    ErrorCode.INVALID_ARGUMENT,
                    f"the request lists {len(payload.files)} file(s) but carries {len(files)} file part(s)",
                )
            pieces, received = await _read_file_part(part, declared.name, file_cap, limit, received)
            files.append(InputFile.from_pieces(declared.name, declared.content_type, pieces))
        if await reader.next() is not None:
            raise AgentFailure(
                ErrorCode.INVALID_ARGUMENT,
                f"the request carries more parts than its {len(payload.files)} listed file(s)",
            )
    except ValueError as exc:  # aiohttp's word for a malformed multipart body
        if isinstance(exc, ValidationError):
            raise
        raise AgentFailure(ErrorCode.INVALID_ARGUMENT, f"malformed multipart request: {exc}") from None
    payload.files = files
    return payload


async def _read_file_part(
    part: aiohttp.BodyPartReader, name: str, file_cap: int, limit: int, received: int
) -> tuple[list[bytes], int]:
    """One file part as pieces of about 1 MiB, under the per-file cap and the body cap."""
    declared = part.headers.get(aiohttp.hdrs.CONTENT_LENGTH)
    if declared and declared.isdigit() and int(declared) > file_cap:
        raise _file_too_large(name, file_cap)
    pieces: list[bytes] = []
    pending: list[bytes] = []  # the socket's reads (often 64 KiB), joined into 1 MiB pieces
    pending_bytes, size = 0, 0
    while chunk := await part.read_chunk(_PIECE_BYTES):
        size += len(chunk)
        received += len(chunk)
        if received > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=received)
        if size > file_cap:
            raise _file_too_large(name, file_cap)
        pending.append(chunk)
        pending_bytes += len(chunk)
        if pending_bytes >= _PIECE_BYTES:
            pieces.append(pending[0] if len(pending) == 1 else b"".join(pending))
            pending, pending_bytes = [], 0
    if pending:
        pieces.append(b"".join(pending))
    return pieces, received


def _file_too_large(name: str, cap: int) -> AgentFailure:
    return AgentFailure(
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"{name} is larger than {cap / 2**20:g} MiB, the limit for one file — attach a smaller file",
    )


async def _run(app: web.Application, spec: AgentSpec, command: str, payload: AgentRequest) -> StoredResponse:
    settings = app[SETTINGS]
    budget = min(settings.request_deadline_s, payload.deadline_s or settings.request_deadline_s)
    started = time.monotonic()
    job = Job(request=payload, app=app, deadline=started + budget)
    try:
        async with asyncio.timeout(budget):
            out = await spec.handlers[command](job)
    except TimeoutError:
        raise AgentFailure(
            ErrorCode.TIMEOUT, f"the job took longer than its {budget:.0f}s deadline"
        ) from None
    result = AgentResult(
        job_id=payload.job_id,
        command=command,
        title=out.title,
        text=out.text,
        fields=out.fields,
        files=out.files,
        data=out.data,
        warnings=out.warnings,
        usage=Usage(
            duration_ms=(time.monotonic() - started) * 1000,
            provider=out.provider,
            provider_cost_usd=out.provider_cost_usd,
        ),
    )
    return StoredResponse(200, result.model_dump_json().encode())


# ---------------------------------------------------------------------------- factory


def create_agent_app(spec: AgentSpec, settings: AgentSettings) -> web.Application:
    app = web.Application(
        middlewares=[trace_middleware, error_middleware, auth_middleware],
        client_max_size=int(settings.max_request_mb * 1024 * 1024),
    )
    app[SETTINGS] = settings
    app[SPEC] = spec
    app[MANIFEST] = build_manifest(
        spec.name,
        list(spec.specs().values()),
        max_upload_bytes=min(int(settings.max_request_mb * 2**20), int(settings.max_file_mb * 2**20)),
        uploads=[UPLOAD_JSON, UPLOAD_MULTIPART],
        timeout_s=settings.request_deadline_s,
    )
    memory = instance_memory_bytes(settings.memory_mb)
    app[HEAVY] = HeavyWork(
        slots_for(memory, int(spec.heavy_job_mb * 2**20), int(spec.base_mb * 2**20)), settings.heavy_wait_s
    )
    app[IDEMPOTENCY] = IdempotencyCache(
        settings.idempotency_entries, int(settings.idempotency_max_mb * 1024 * 1024)
    )

    async def resources(app: web.Application) -> AsyncIterator[None]:
        session = aiohttp.ClientSession()
        app[SESSION] = session
        app[VERIFIER] = (
            IdTokenVerifier(
                session,
                audience=settings.audience or "",
                certs_url=settings.certs_url,
                issuers=settings.issuers,
                allowed_callers=settings.allowed_callers,
            )
            if settings.auth == "google"
            else None
        )
        yield
        await session.close()

    app.cleanup_ctx.append(resources)
    app.cleanup_ctx.extend(spec.contexts)
    app.router.add_get("/health", health)
    app.router.add_get("/v1/manifest", manifest)
    app.router.add_post("/v1/{command}", dispatch)
    return app


def run_agent(build: Callable[[AgentSettings], web.Application], name: str) -> None:
    """The one startup function of an agent process (`python -m agents.X` and `spotrun agent X`)."""
    with exit_on_settings_error(name):
        settings = load_settings(AgentSettings)
        configure_logging(settings.log_level, settings.log_format, settings.project)
        app = build(settings)
        if settings.auth == "google" and not settings.allowed_callers:
            log.warning(
                "SPOTRUN_AGENT_ALLOWED_CALLERS is empty: any Google-signed token for the audience "
                "is accepted; set it to the bot's service-account email"
            )
        log.info(
            "agent starting",
            agent=name,
            port=settings.port,
            auth=settings.auth,
            heavy_slots=app[HEAVY].slots,
        )
        # aiohttp turns SIGTERM into a graceful stop: listeners close, in-flight requests get
        # shutdown_grace_s (below Cloud Run's 10 s) to finish, then are cancelled.
        web.run_app(
            app,
            host=settings.host,
            port=settings.port,
            shutdown_timeout=settings.shutdown_grace_s,
            print=None,
            access_log=None,
            handle_signals=True,
        )
