"""The zone this process runs in, for /status: the setting, else the GCE metadata server, else unknown."""

from __future__ import annotations

import os

import aiohttp

from spotrun.logs import get_logger

log = get_logger("bot.shards.zone")


async def find_zone(configured: str | None, session: aiohttp.ClientSession, timeout_s: float) -> str:
    if configured:
        return configured
    host = os.environ.get("GCE_METADATA_IP") or os.environ.get("GCE_METADATA_HOST") or "169.254.169.254"
    url = f"http://{host}/computeMetadata/v1/instance/zone"
    try:
        async with session.get(
            url, headers={"Metadata-Flavor": "Google"}, timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as resp:
            if resp.status != 200:
                return "unknown"
            # "projects/123/zones/europe-west1-b" -> the zone itself
            return (await resp.text()).strip().rsplit("/", 1)[-1] or "unknown"
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.debug("no metadata server: zone unknown", error=str(exc))
        return "unknown"
