"""Routing quality on bench/data/routing.jsonl: per router, split and language — top-1 command
accuracy, argument exact-match, ask-back rate, wrong jobs started, p50 routing time.

The offline router is measured for real. The LLM router is measured against a loopback fake of the
provider whose "model" answers each request with its label: that checks the plumbing (tools from
the manifests, parsing, validation, decisions, cost, fallback), not a model's judgement.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import ValidationError

from bench._util import Row
from bot.router import FileInfo, LlmRouter, OfflineRouter, Routable, RouterSettings
from bot.router.readings import Decision
from spotrun.logs import configure_logging
from spotrun.protocol import COMMANDS

DATA = Path(__file__).with_name("data") / "routing.jsonl"


@dataclass
class Case:
    id: str
    split: str
    lang: str
    text: str
    files: list[FileInfo]
    command: str | None
    args: dict[str, Any]


def load(path: Path = DATA) -> list[Case]:
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        o = json.loads(line)
        files = [
            FileInfo(f["name"], f["content_type"], 1000, tuple(f.get("columns") or ())) for f in o["files"]
        ]
        cases.append(Case(o["id"], o["split"], o["lang"], o["text"], files, o["command"], o["args"]))
    return cases


def commands() -> list[Routable]:
    return [Routable(s, s.args.model_json_schema()) for s in COMMANDS.values()]


def expected_args(case: Case) -> dict[str, Any] | None:
    """The labelled arguments as the typed model fills them in; None where the request lacks a
    required one (the router should ask for it, not guess)."""
    if case.command is None:
        return None
    try:
        return COMMANDS[case.command].args.model_validate(case.args).model_dump(mode="json")
    except ValidationError:
        return None


@dataclass
class Tally:
    n: int = 0
    top1: int = 0
    args_ok: int = 0
    args_n: int = 0
    ask: int = 0
    wrong_jobs: int = 0
    wrong_args_jobs: int = 0
    ms: list[float] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)

    def add(self, case: Case, d: Decision, ms: float) -> None:
        self.n += 1
        self.ms.append(ms)
        top = d.top.command if d.top and d.outcome != "none" else None
        if top == case.command:
            self.top1 += 1
        else:
            self.misses.append(f"{case.id} [{d.outcome}] {top} != {case.command}: {case.text}")
        if d.outcome in ("choose", "need"):
            self.ask += 1
        if d.outcome == "run" and top != case.command:
            self.wrong_jobs += 1
        want = expected_args(case)
        if want is not None and top == case.command and d.top is not None:
            self.args_n += 1
            if d.top.args == want:
                self.args_ok += 1
            else:
                self.misses.append(f"{case.id} args {d.top.args} != {want}: {case.text}")
                if d.outcome == "run":
                    self.wrong_args_jobs += 1

    def row(self) -> dict[str, float]:
        return {
            "n": self.n,
            "top1": 100 * self.top1 / max(self.n, 1),
            "args": 100 * self.args_ok / max(self.args_n, 1),
            "ask": 100 * self.ask / max(self.n, 1),
            "wrong_jobs": 100 * self.wrong_jobs / max(self.n, 1),
            "wrong_args_jobs": 100 * self.wrong_args_jobs / max(self.n, 1),
            "p50_ms": statistics.median(self.ms) if self.ms else 0.0,
        }


def evaluate(
    results: Sequence[tuple[Case, Decision, float]],
) -> dict[tuple[str, str], Tally]:
    tallies: dict[tuple[str, str], Tally] = defaultdict(Tally)
    for case, decision, ms in results:
        for key in ((case.split, "all"), (case.split, case.lang)):
            tallies[key].add(case, decision, ms)
    return tallies


def run_offline(cases: Sequence[Case]) -> list[tuple[Case, Decision, float]]:
    router = OfflineRouter(commands())
    out = []
    for case in cases:
        t = time.perf_counter()
        d = router.route(case.text, case.files)
        out.append((case, d, (time.perf_counter() - t) * 1000))
    return out


async def run_llm(cases: Sequence[Case], *, mode: str = "ok") -> list[tuple[Case, Decision, float]]:
    from tests.fakes.openai_chat import FakeOpenAIChat
    from tests.helpers import serve

    fake = FakeOpenAIChat()
    fake.mode = mode
    by_text = {c.text: c for c in cases}

    def oracle(body: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        said = body["messages"][-1]["content"].split("\n\n", 1)[0]
        case = by_text[said]
        return (case.command, case.args) if case.command else None

    fake.answer = oracle
    routable = commands()
    async with serve(fake.app()) as url, aiohttp.ClientSession() as session:
        settings = RouterSettings(provider="openai", base_url=f"{url}/v1", api_key=fake.api_key, timeout_s=5)
        router = LlmRouter(routable, settings, session, OfflineRouter(routable))
        out = []
        for case in cases:
            t = time.perf_counter()
            d = await router.route(case.text, case.files)
            out.append((case, d, (time.perf_counter() - t) * 1000))
    return out


def table(name: str, tallies: dict[tuple[str, str], Tally]) -> str:
    lines = [
        f"{name}",
        f"  {'split':9} {'lang':4} {'n':>4} {'top-1':>7} {'args=':>7} {'ask':>6} "
        f"{'wrong':>6} {'wrongarg':>8} {'p50 ms':>7}",
    ]
    for (split, lang), tally in sorted(
        tallies.items(), key=lambda kv: (kv[0][0] != "held-out", kv[0][1] != "all", kv[0][1])
    ):
        r = tally.row()
        lines.append(
            f"  {split:9} {lang:4} {r['n']:>4.0f} {r['top1']:>6.1f}% {r['args']:>6.1f}% {r['ask']:>5.1f}% "
            f"{r['wrong_jobs']:>5.1f}% {r['wrong_args_jobs']:>7.1f}% {r['p50_ms']:>7.2f}"
        )
    return "\n".join(lines)


async def run(*, verbose: bool = False, split: str | None = None) -> list[Row]:
    configure_logging("ERROR")  # the LLM router logs each call (and each fallback)
    cases = [c for c in load() if split is None or c.split == split]
    reports = {
        "offline": evaluate(run_offline(cases)),
        "llm (loopback fake, oracle answers)": evaluate(await run_llm(cases)),
        "llm (loopback fake answering 500: offline fallback)": evaluate(await run_llm(cases, mode="500")),
    }
    rows: list[Row] = []
    for name, tallies in reports.items():
        print(table(name, tallies))
        if verbose and name == "offline":
            for key, tally in sorted(tallies.items()):
                if key[1] == "all":
                    print(f"  misses ({key[0]}):")
                    for miss in tally.misses:
                        print("   ", miss)
        for (sp, lang), tally in tallies.items():
            r = tally.row()
            for metric, unit in (
                ("top1", "%"),
                ("args", "%"),
                ("ask", "%"),
                ("wrong_jobs", "%"),
                ("p50_ms", "ms"),
            ):
                rows.append(Row("routing", f"{name} {sp} {lang} {metric}", round(r[metric], 2), unit))
    return rows


if __name__ == "__main__":
    import asyncio
    import sys

    asyncio.run(run(verbose="-v" in sys.argv, split="dev" if "--dev" in sys.argv else None))
