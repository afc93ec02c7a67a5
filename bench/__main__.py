"""Run every benchmark, print one table and write bench/results.json.

python -m bench                 # everything (about 5-10 minutes on 2 cores)
python -m bench client engines  # chosen sections
python -m bench --quick         # smaller sizes, for a smoke run
python -m bench routing         # plain-language routing (bench/data/routing.jsonl) -> bench/routing.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path

from bench._util import Row, metadata_server, render_table

SECTIONS = ["client", "engines", "coldstart", "pipeline", "store", "failover", "memory", "cost", "routing"]


async def run_section(name: str, quick: bool) -> list[Row]:
    if name == "client":
        from bench import client_overhead

        return await client_overhead.run(n=500 if quick else 2000, sample_n=100 if quick else 300)
    if name == "engines":
        from bench import engines

        return await engines.run(rows=100_000 if quick else 1_000_000)
    if name == "coldstart":
        from bench import cold_start

        return await cold_start.run(repeats=1 if quick else 3)
    if name == "pipeline":
        from bench import pipeline

        return await pipeline.run(levels=(1, 20) if quick else (1, 50, 200))
    if name == "store":
        from bench import store

        return await store.run(
            levels=(1, 20) if quick else (1, 50, 200), processes=(1, 2) if quick else (1, 2, 3)
        )
    if name == "failover":
        from bench import failover

        return await failover.run(repeats=1 if quick else 3)
    if name == "memory":
        from bench import memory

        return await memory.run(jobs=200 if quick else 1000)
    if name == "cost":
        from bench import cost

        return cost.run()
    if name == "routing":
        from bench import routing

        return await routing.run()
    raise SystemExit(f"unknown section {name!r}; choose from {', '.join(SECTIONS)}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("sections", nargs="*", default=SECTIONS)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None, help="default: results.json (routing alone: routing.json)")
    args = parser.parse_args()
    alone = "routing.json" if args.sections == ["routing"] else "results.json"
    args.out = args.out or str(Path(__file__).with_name(alone))
    metadata_server()  # before anything imports google.auth
    os.environ.setdefault("MPLCONFIGDIR", "/tmp/spotrun-mpl")
    rows: list[Row] = []
    started = time.time()
    for section in args.sections:
        t = time.perf_counter()
        try:
            rows += asyncio.run(run_section(section, args.quick))
        except ModuleNotFoundError as exc:
            print(f"[{section}] skipped: {exc}", file=sys.stderr)
            continue
        print(f"[{section}] done in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    print(render_table(rows))
    Path(args.out).write_text(
        json.dumps(
            {
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                "quick": args.quick,
                "rows": [r.as_dict() for r in rows],
            },
            indent=2,
        )
    )
    print(f"\nwrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
