"""The thin runtime every agent shares: app factory, auth, errors, idempotency, logging."""

from agents.common.app import (
    HEAVY,
    MANIFEST,
    SESSION,
    SETTINGS,
    AgentSpec,
    CommandHandler,
    Job,
    Output,
    create_agent_app,
    run_agent,
)
from agents.common.errors import AgentFailure
from agents.common.settings import AgentSettings

__all__ = [
    "HEAVY",
    "MANIFEST",
    "SESSION",
    "SETTINGS",
    "AgentFailure",
    "AgentSettings",
    "AgentSpec",
    "CommandHandler",
    "Job",
    "Output",
    "create_agent_app",
    "run_agent",
]
