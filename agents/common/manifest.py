"""GET /v1/manifest: what this agent serves, built once from its AgentSpec (no engine imports)."""

from __future__ import annotations

import os

from aiohttp import web

from spotrun import __version__
from spotrun.protocol import PROTOCOL_VERSION, AgentManifest, CommandSpec


def build_manifest(
    name: str,
    specs: list[CommandSpec],
    *,
    max_upload_bytes: int,
    timeout_s: float,
    uploads: list[str] | None = None,
) -> AgentManifest:
    # The schemas come from the same pydantic models that validate requests, so the manifest
    # cannot drift from what the agent accepts.
    return AgentManifest(
        agent=name,
        version=__version__,
        # Cloud Run sets K_REVISION per deployment; an image tag may be passed in explicitly.
        revision=os.environ.get("SPOTRUN_AGENT_IMAGE") or os.environ.get("K_REVISION"),
        protocol=PROTOCOL_VERSION,
        commands=[s.manifest(max_upload_bytes=max_upload_bytes, timeout_s=timeout_s) for s in specs],
        **({"uploads": uploads} if uploads else {}),
    )


def manifest_response(manifest: AgentManifest) -> web.Response:
    return web.Response(body=manifest.model_dump_json().encode(), content_type="application/json")
