"""User-facing text for every failure a job can meet: short, specific, and what to do next."""

from __future__ import annotations

from agent_client import (
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
from bot.frontends.render import neutralize
from spotrun.protocol import Command, ErrorCode

# What each agent does, in the words a user would use.
_AGENT_WORDS = {
    "image-gen": "image",
    "web-scraper": "web scraper",
    "data-analysis": "data analysis",
    "audio-video": "audio/video",
}

_REJECTED: dict[ErrorCode, str] = {
    ErrorCode.PROVIDER_NOT_CONFIGURED: "{what} isn't set up on this bot — an admin must configure a provider "
    "(`/status` shows admins which setting is missing)",
    ErrorCode.BLOCKED_URL: "that URL points to a private/blocked address; use a public http(s) URL",
    ErrorCode.FETCH_FAILED: "the page could not be fetched: {detail}",
    ErrorCode.UNSUPPORTED_MEDIA: "that file type isn't supported here: {detail}",
    ErrorCode.PAYLOAD_TOO_LARGE: "the input is too large: {detail}",
    ErrorCode.CONTENT_POLICY: "the provider refused this request under its content policy",
    ErrorCode.ENGINE_UNAVAILABLE: "the {agent} agent is missing an engine for this: {detail}",
    ErrorCode.INVALID_ARGUMENT: "the agent refused the arguments: {detail}",
    ErrorCode.PROVIDER_ERROR: "the provider failed: {detail}",  # the agent says what to do
    ErrorCode.RATE_LIMITED: "the provider is rate-limiting us; try again in a minute",
    ErrorCode.UNAUTHENTICATED: "the bot couldn't authenticate to the {agent} agent; an admin should check "
    "Workload Identity",
    ErrorCode.FORBIDDEN: "the {agent} agent refused the bot's identity; an admin should check its "
    "roles/run.invoker grant",
}

_WHAT = {
    Command.GENERATE: "image generation",
    Command.ENHANCE: "image enhancement",
    Command.STYLE_TRANSFER: "style transfer",
    Command.TRANSCRIBE: "transcription",
    Command.TTS: "text-to-speech",
}


def agent_words(agent: str | None) -> str:
    return _AGENT_WORDS.get(agent or "", agent or "agent")


def describe_agent_error(exc: AgentError) -> str:
    """One sentence for the user. The order matters: subclasses before their parents."""
    agent = agent_words(exc.agent)
    # A specific code wins over the HTTP class: e.g. provider_not_configured arrives as a 501.
    template = _REJECTED.get(exc.code) if exc.code else None
    if template is not None:
        what = _WHAT.get(exc.command or "", exc.command or "this")
        return template.format(what=what, agent=agent, detail=_said(exc))
    if isinstance(exc, AgentRejected):
        return f"the {agent} agent refused this: {_said(exc)}"
    if isinstance(exc, CircuitOpen):
        return f"the {agent} agent is failing; try again in {exc.retry_in_s:.0f}s"
    if isinstance(exc, AgentTimeout):
        return f"the {agent} agent took longer than {_limit_of(exc)}; try a smaller input or try again later"
    if isinstance(exc, AgentBusy):
        return f"the {agent} agent is busy; try again in a minute"
    if isinstance(exc, AgentUnavailable):
        return f"the {agent} agent is down right now; try again later"
    if isinstance(exc, AuthError):
        return "the bot couldn't authenticate to the agent; an admin should check Workload Identity"
    if isinstance(exc, ProtocolViolation):
        return (
            f"the {agent} agent answered something the bot doesn't understand; "
            "an admin should check its version"
        )
    if isinstance(exc, RegistryError):
        return "no agent is configured for this command; an admin should check the agent registry"
    return f"the {agent} agent failed: {_said(exc)}"


def _said(exc: AgentError) -> str:
    # The agent's words can quote a page, a file or a provider: shown as text wherever the
    # sentence goes (the status message, the error embed, `!jobs`).
    return neutralize(exc.message)[0]


def _limit_of(exc: AgentTimeout) -> str:
    return f"{exc.limit_s:.0f}s" if exc.limit_s is not None else "its time limit"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """A number with its noun in the right number: 1 job, 2 jobs, 1,234 characters."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def _money(usd: float) -> str:
    # Test and trial budgets can be fractions of a cent: never show them as $0.00.
    return f"${usd:,.2f}" if usd >= 0.01 else f"${usd:.7f}".rstrip("0")


def budget_warning(user_scoped: bool, used_ratio: float, amount_usd: float) -> str:
    who = "you have" if user_scoped else "this server has"
    whose = "your" if user_scoped else "its"
    return f"⚠️ {who} used {used_ratio:.0%} of {whose} {_money(amount_usd)} monthly budget"


def budget_exhausted(user_scoped: bool, amount_usd: float, resets_at: float) -> str:
    who = "you have" if user_scoped else "this server has"
    whose = "your" if user_scoped else "its"
    return (
        f"💸 {who} used all of {whose} {_money(amount_usd)} monthly budget, so no new jobs until it resets "
        f"<t:{int(resets_at)}:R> (the 1st, 00:00 UTC); an admin can raise or lift it with `/budget`"
    )
