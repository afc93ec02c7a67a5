"""The change summary a monitor posts."""

from __future__ import annotations

from bot.monitors.change import summarize_change


def test_title_word_count_and_first_changed_sentence() -> None:
    old = "The build is green. Deploys are on Tuesday. Ask in #ops."
    new = "The build is green. Deploys are on Friday now. Ask in #ops."
    text = summarize_change("Status", "Status (updated)", old, new)
    assert "title: “Status” → “Status (updated)”" in text
    assert "words: 11 → 12 (+1)" in text
    assert "first change: “Deploys are on Friday now.”" in text


def test_no_visible_change() -> None:
    assert "markup or metadata" in summarize_change("a", "a", "same.", "same.")
