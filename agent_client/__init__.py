"""Async client for spotrun's Cloud Run agents: ID-token auth, retries, breaker, limits."""

from agent_client._auth import GoogleIdTokens, NoAuth, TokenSource, token_expiry
from agent_client._breaker import BreakerState, CircuitBreaker
from agent_client._client import AgentClient, create_session, parse_retry_after
from agent_client._exceptions import (
    AgentBusy,
    AgentError,
    AgentRejected,
    AgentTimeout,
    AgentUnavailable,
    AuthError,
    CircuitOpen,
    ProtocolViolation,
    RegistryError,
)
from agent_client._registry import AgentConfig, AgentRegistry, load_registry
from agent_client._stats import AgentStats

__all__ = [
    "AgentBusy",
    "AgentClient",
    "AgentConfig",
    "AgentError",
    "AgentRegistry",
    "AgentRejected",
    "AgentStats",
    "AgentTimeout",
    "AgentUnavailable",
    "AuthError",
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpen",
    "GoogleIdTokens",
    "NoAuth",
    "ProtocolViolation",
    "RegistryError",
    "TokenSource",
    "create_session",
    "load_registry",
    "parse_retry_after",
    "token_expiry",
]
