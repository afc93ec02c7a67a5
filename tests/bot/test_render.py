"""Rendering stays within every Discord limit, and shows what it cut."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from bot.frontends import render
from bot.frontends.render import Message, clip, render_result
from spotrun.protocol import AgentResult, Command, EmbedField, OutputFile, Usage


def result(**kw: object) -> AgentResult:
    return AgentResult(job_id="j1", command=Command.SCRAPE, usage=Usage(duration_ms=120), **kw)  # type: ignore[arg-type]


def assert_within_limits(messages: list[Message]) -> None:
    for m in messages:
        assert len(m.content) <= render.CONTENT
        assert len(m.embeds) <= render.EMBEDS_PER_MESSAGE
        assert len(m.files) <= render.FILES_PER_MESSAGE
        assert sum(e.size() for e in m.embeds) <= render.EMBED_TOTAL
        for e in m.embeds:
            assert len(e.title) <= render.TITLE
            assert len(e.description) <= render.DESCRIPTION
            assert len(e.fields) <= render.FIELDS
            assert len(e.footer) <= render.FOOTER
            for name, value, _ in e.fields:
                assert 0 < len(name) <= render.FIELD_NAME
                assert 0 < len(value) <= render.FIELD_VALUE


def test_long_text_is_split_across_embeds_and_messages_without_loss() -> None:
    words = " ".join(f"word{i}" for i in range(1700))  # ~ 15,800 chars, near the protocol maximum
    messages = render_result(result(title="T" * 256, text=words), footer="≈ $0.01 · receipt", job_id="j1")
    assert_within_limits(messages)
    assert len(messages) >= 3  # 16k chars cannot fit the 6,000-char total of one message
    joined = " ".join(e.description for m in messages for e in m.embeds)
    assert joined.split() == words.split()
    assert "continued" in messages[1].embeds[0].title
    assert messages[-1].embeds[-1].footer.startswith("≈ $0.01")


def test_huge_fields_are_truncated_visibly_and_many_fields_fit() -> None:
    fields = [EmbedField(name=f"n{i}" * 60, value="v" * 1024) for i in range(25)]
    messages = render_result(result(title="x", text="y" * 4096, fields=fields, warnings=["w" * 2000]))
    assert_within_limits(messages)
    all_fields = [f for m in messages for e in m.embeds for f in e.fields]
    assert len(all_fields) == 26  # 25 + the notes field
    notes = all_fields[-1]
    assert notes[0] == "⚠ notes" and "chars)" in notes[1]


def test_clip_says_how_much_was_cut() -> None:
    assert clip("abc", 5) == "abc"
    cut = clip("a" * 5000, 1024)
    assert len(cut) == 1024 and cut.endswith("chars)") and "(+" in cut
    assert len(clip("a" * 50, 3)) == 3


def test_big_image_is_downscaled_to_fit_and_other_big_files_are_explained() -> None:
    img = Image.effect_noise((1200, 1200), 100).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    png = buf.getvalue()
    limit = len(png) // 3
    files = [
        OutputFile(name="noise.png", content_type="image/png", data=png),
        OutputFile(name="big.wav", content_type="audio/wav", data=b"\0" * (limit + 1)),
        OutputFile(name="small.txt", content_type="text/plain", data=b"ok"),
    ]
    messages = render_result(result(text="t", files=files), upload_limit=limit)
    assert_within_limits(messages)
    attached = {f.name: f for m in messages for f in m.files}
    assert set(attached) == {"noise.jpg", "small.txt"}
    assert len(attached["noise.jpg"].data) <= limit
    notes = next(v for m in messages for e in m.embeds for n, v, _ in e.fields if n == "⚠ notes")
    assert "big.wav" in notes and "not attached" in notes and "re-encoded" in notes


def test_more_than_ten_files_go_to_extra_messages() -> None:
    files = [OutputFile(name=f"f{i}.txt", content_type="text/plain", data=b"x") for i in range(12)]
    messages = render_result(result(text="t", files=files))
    assert_within_limits(messages)
    assert sum(len(m.files) for m in messages) == 12


@pytest.mark.parametrize("text", ["", "short"])
def test_minimal_results_render(text: str) -> None:
    messages = render_result(result(text=text))
    assert len(messages) == 1 and messages[0].embeds[0].title == "scrape"


MASKED_LINK = re.compile(r"(?<!\\)\[[^\]\n]*(?<!\\)\]\(")


def test_agent_markdown_is_shown_as_text_with_the_real_url() -> None:
    text = (
        "[https://discord.com/nitro](https://evil.example/steal)\n"
        "# YOU WON\n-# small print\n"
        "see `a[href]` for the selector"
    )
    fields = [EmbedField(name="[x](https://evil.example/f)", value="[y](<https://evil.example/v>)")]
    messages = render_result(result(title="[t](https://evil.example/t)", text=text, fields=fields))
    embed = messages[0].embeds[0]
    shown = [embed.title, embed.description, *(f"{n} {v}" for n, v, _ in embed.fields)]
    assert not any(MASKED_LINK.search(s) for s in shown), shown
    assert "https://evil.example/steal" in embed.description
    assert not re.search(r"(?m)^(#|-#) ", embed.description)
    assert "`a[href]`" in embed.description  # inline code is shown as written
    # The console shows the words without the escapes.
    assert "[https://discord.com/nitro](https://evil.example/steal)" in messages[0].as_text()


def test_a_cell_cannot_break_out_of_the_agents_code_block() -> None:
    table = "Summary of **data.csv**\n```\nname   | value\n``` [free](https://evil.example) | 1\n```\nafter"
    description = render_result(result(text=table))[0].embeds[0].description
    lines = description.split("\n")
    assert lines[1] == "```" and lines[4] == "```"  # the agent's fence, opened and closed once
    assert "```" not in lines[3]  # the cell's backticks can no longer close it
    assert "**data.csv**" in description  # the agent's own bold stays


def test_a_fence_split_across_embeds_is_closed_and_reopened() -> None:
    rows = "\n".join(f"row {i:05d} " + "x" * 60 for i in range(200))
    messages = render_result(result(text=f"intro\n```\n{rows}\n```\nend"))
    assert_within_limits(messages)
    descriptions = [e.description for m in messages for e in m.embeds if e.description]
    assert len(descriptions) >= 3
    for d in descriptions:
        fences = [line for line in d.split("\n") if line.strip() == "```"]
        assert len(fences) % 2 == 0, d[:200]  # every part's code block is closed
