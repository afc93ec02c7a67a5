"""The help text: every command with its usage and an example, from the protocol's command table."""

from __future__ import annotations

from spotrun.protocol import COMMANDS

JOB_COMMANDS = (
    ("jobs", "jobs", "Your recent jobs and their state"),
    ("cancel", "cancel <job>", "Cancel a queued or running job (yours; admins: any)"),
    (
        "monitor",
        "monitor <url> [interval_minutes] · monitor list · monitor remove <id>",
        "Watch a page and post here when it changes",
    ),
    ("help", "help", "This list"),
)


def help_lines(prefix: str = "!") -> list[tuple[str, str]]:
    """(heading, body) pairs; the Discord help packs them into embed fields, the console prints them."""
    lines = [
        (
            f"{prefix}{spec.usage.split(' ')[0]} — {spec.summary}",
            f"`{prefix}{spec.usage}`\ne.g. `{spec.example}`",
        )
        for spec in COMMANDS.values()
    ]
    lines += [(f"{prefix}{name} — {summary}", f"`{prefix}{usage}`") for name, usage, summary in JOB_COMMANDS]
    return lines


def help_text(prefix: str = "!") -> str:
    return "\n".join(
        f"{head}\n    {body.replace(chr(10), chr(10) + '    ')}" for head, body in help_lines(prefix)
    )
