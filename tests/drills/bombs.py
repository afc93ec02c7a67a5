"""Hostile uploads for the containment drill: small files that decode into something huge or deep."""

from __future__ import annotations


def deep_json(depth: int = 100_000) -> bytes:
    return b"[" * depth + b"]" * depth


def hostile_uploads() -> list[tuple[str, list[tuple[str, bytes, str]]]]:
    """(command text, attachments) for each bomb the agents must refuse before decoding."""
    return [
        ("!analyze", [("deep.json", deep_json(), "application/json")]),
        ("!analyze", [("deep.ndjson", deep_json(600) + b"\n", "application/x-ndjson")]),
    ]
