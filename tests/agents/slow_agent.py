"""A test agent whose `tts` takes SLOW_AGENT_SECONDS: lets a test SIGTERM it mid-request."""

from __future__ import annotations

import asyncio
import os

from aiohttp import web

from agents.common import AgentSettings, AgentSpec, Job, Output, create_agent_app, run_agent
from spotrun.protocol import Command


async def _slow(job: Job) -> Output:
    await asyncio.sleep(float(os.environ.get("SLOW_AGENT_SECONDS", "2")))
    return Output(text="finished after SIGTERM")


def build(settings: AgentSettings) -> web.Application:
    return create_agent_app(AgentSpec(name="audio-video", handlers={Command.TTS: _slow}), settings)


if __name__ == "__main__":
    run_agent(build, "slow-test-agent")
