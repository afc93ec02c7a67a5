"""Engine throughput through the real agents, each next to a comparison row from the same run."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import forecasting
from bench._agents import agent_process, call, call_raw, peak_rss_mb, ready, request
from bench._util import Row, median

# Peak RSS is the process's VmHWM: ru_maxrss survives exec on Linux, so a child of a big bench
# process (595 MB after the scraper corpora) reported the parent's peak for every engine alike.
PEAK = """
def PEAK_MB():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmHWM")) / 1024
"""
PANDAS_SCRIPT = (
    PEAK
    + """
import io, json, sys, time
import pandas as pd
# A warm instance: one small file first, as the agent below does (first-use costs are per process).
pd.read_csv(io.BytesIO(b"a,b\\n1,x\\n")).describe(include="all")
t = time.perf_counter()
df = pd.read_csv(sys.argv[1])
d = df.describe(include="all")
c = df.select_dtypes("number").corr()
nulls = df.isna().sum()
print(json.dumps({"s": time.perf_counter() - t,
                  "rss": PEAK_MB()}))
"""
)


# The same work with the file's bytes already in memory, as the agent receives an upload; like the
# agent, it lets the bytes go once the frame is decoded.
PANDAS_BYTES_SCRIPT = PANDAS_SCRIPT.replace(
    "t = time.perf_counter()\ndf = pd.read_csv(sys.argv[1])",
    "data = open(sys.argv[1], 'rb').read()\n"
    "t = time.perf_counter()\ndf = pd.read_csv(io.BytesIO(data))\ndel data",
)

# What an agent built on pandas would hold: the same runtime (aiohttp, google-auth, the protocol
# models) imported, the upload's bytes in memory; it too lets them go once the frame is decoded.
PANDAS_AGENT_SCRIPT = PANDAS_BYTES_SCRIPT.replace(
    "import pandas as pd", "import pandas as pd\nimport agents.common"
)


def make_csv(rows: int, path: Path) -> None:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(7)
    pl.DataFrame(
        {
            "id": np.arange(rows),
            "a": rng.normal(50, 10, rows),
            "b": rng.normal(0, 1, rows),
            "c": rng.integers(0, 1000, rows),
            "d": rng.random(rows),
            "e": rng.normal(5, 2, rows),
            "city": rng.choice(["Paris", "Lyon", "Nice", "Lille", "Metz"], rows),
            "flag": rng.choice(["yes", "no"], rows),
        }
    ).write_csv(path)


def scraper_rows() -> list[Row]:
    """Main text on the public corpora (bench/scraper_corpora.py), ours beside trafilatura, same run."""
    from bench import scraper_quality as sq

    engines = {name: sq.ENGINES[name] for name in ("spotrun", "trafilatura")}
    try:
        runs = sq.compare(sq.corpora.CORPORA_DIR, engines)
    except FileNotFoundError as exc:  # the corpora are data outside the repository
        print(f"(skipping scraper rows: {exc})")
        return []
    rows = []
    for corpus in dict.fromkeys(r.corpus for r in runs):
        ours, lib = (next(r for r in runs if r.corpus == corpus and r.engine == e) for e in engines)
        f1, lib_f1 = ours.summary().f1, lib.summary().f1
        rows += [
            Row("engines", f"scraper main-text F1 ({corpus})", f1, "F1", "trafilatura", f1 / lib_f1),
            Row("engines", f"trafilatura main-text F1 ({corpus})", lib_f1, "F1"),
            Row(
                "engines",
                f"scraper extraction ({corpus})",
                ours.pages_per_s,
                "pages/s",
                "trafilatura",
                ours.pages_per_s / lib.pages_per_s,
            ),
            Row("engines", f"trafilatura extraction ({corpus})", lib.pages_per_s, "pages/s"),
        ]
    return rows


POLARS_SCRIPT = (
    PEAK
    + """
import json, sys, time
# Imported before the clock, as pandas is in its script: the agent imports them once per instance
# (the coldstart section measures that), not per request.
import numpy, polars
from agents.data_analysis import handlers, summary
from agents.data_analysis.settings import AnalysisSettings
from spotrun.protocol import InputFile
# model_construct: the protocol caps uploads at 25 MiB; this measures the engine on a bigger file.
# The request holds the only reference to the bytes, as in the agent (which frees the request body).
file = InputFile.model_construct(name="big.csv", content_type="text/csv", data=open(sys.argv[1], "rb").read())
settings = AnalysisSettings(max_file_mb=512, max_rows=10**7)
# A warm instance: polars' thread pool and allocator arenas start on first use, once per process.
warm = InputFile.model_construct(name="w.csv", content_type="text/csv", data=b"a,b\\n1,x\\n")
handlers.analyze_file(warm, settings, None)
t = time.perf_counter()
fmt, stats = handlers.analyze_file(file, settings, None)
summary.render("big.csv", fmt, stats)
print(json.dumps({"s": time.perf_counter() - t,
                  "rss": PEAK_MB()}))
"""
)


def _measure(script: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "MPLCONFIGDIR": "/tmp/spotrun-mpl"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_public_csv(rows: int, path: Path) -> int:
    """Real, public survey data shipped in statsmodels' wheel — the RAND Health Insurance Experiment
    (20,190 person-years × 45 columns, numbers with empty cells) — repeated to `rows` rows."""
    from importlib.resources import files

    source = files("statsmodels.datasets.randhie").joinpath("src/randhie.csv").read_bytes()
    header, _, body = source.partition(b"\n")
    body = body if body.endswith(b"\n") else body + b"\n"
    copies = -(-rows // body.count(b"\n"))
    path.write_bytes(header + b"\n" + body * copies)
    return copies * body.count(b"\n")


_RUNS = 5

# An agent process that takes the benchmark file: every cap raised past its 95 MB (the protocol's
# default is 25 MiB a file), nothing else changed.
_BIG_AGENT = {
    "SPOTRUN_AGENT_MAX_REQUEST_MB": "512",
    "SPOTRUN_AGENT_MAX_FILE_MB": "512",
    "SPOTRUN_ANALYSIS_MAX_FILE_MB": "512",
    "SPOTRUN_ANALYSIS_MAX_ROWS": str(10**7),
}


def _bodies(path: Path) -> dict[str, tuple[bytes, str]]:
    """The analyze request for `path` as the bot sends it to the agent: multipart and JSON/base64."""
    from agent_client._multipart import encode_multipart
    from spotrun.protocol import MAX_FILE_BYTES_CONTEXT, AgentRequest

    raw = request("analyze", {}, [(path.name, "text/csv", path.read_bytes())], job="big-1")
    big = AgentRequest.model_validate(raw, context={MAX_FILE_BYTES_CONTEXT: 2**30})
    multipart = encode_multipart(big)
    del big
    return {"multipart": multipart, "json": (json.dumps(raw).encode(), "application/json")}


async def _agent_run(body: bytes, content_type: str) -> dict:
    """A fresh agent process (peak RSS is per process), warmed on a small file, then the big one:
    its VmHWM and the request's end-to-end time (the upload over loopback included)."""
    with agent_process("data-analysis", _BIG_AGENT) as (proc, url):
        await ready(url, proc)
        await call(url, "analyze", request("analyze", {}, [("w.csv", "text/csv", b"a,b\n1,x\n")], job="w"))
        idle = peak_rss_mb(proc.pid)
        started = time.perf_counter()
        result = await call_raw(url, "analyze", body, content_type, "big-1")
        took = time.perf_counter() - started
        handled = result["usage"]["duration_ms"] / 1000
        return {"s": took, "handler": handled, "rss": peak_rss_mb(proc.pid), "idle": idle}


async def analysis_rows(rows: int, public: bool = False) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        if public:
            rows, source = make_public_csv(rows, path), "public: statsmodels randhie repeated"
        else:
            make_csv(rows, path)
            source = "synthetic"
        mb = path.stat().st_size / 1e6
        bodies = _bodies(path)
        ours, pandas, in_memory, as_agent = [], [], [], []
        agent: dict[str, list[dict]] = {form: [] for form in bodies}
        # Interleaved, so load from other work on the shared machine hits all of them alike.
        for _ in range(_RUNS):
            for form, (body, content_type) in bodies.items():
                agent[form].append(await _agent_run(body, content_type))
            ours.append(_measure(POLARS_SCRIPT, path))
            pandas.append(_measure(PANDAS_SCRIPT, path))
            in_memory.append(_measure(PANDAS_BYTES_SCRIPT, path))
            as_agent.append(_measure(PANDAS_AGENT_SCRIPT, path))
        del bodies
    o_s, p_s = median([r["s"] for r in ours]), median([r["s"] for r in pandas])
    o_rss, p_rss = median([r["rss"] for r in ours]), median([r["rss"] for r in pandas])
    m_s, m_rss = median([r["s"] for r in in_memory]), median([r["rss"] for r in in_memory])
    a_rss = median([r["rss"] for r in as_agent])

    def of(form: str, key: str) -> float:
        return median([r[key] for r in agent[form]])

    mp_s, mp_rss, mp_h, idle = (of("multipart", k) for k in ("s", "rss", "handler", "idle"))
    js_s, js_rss = of("json", "s"), of("json", "rss")
    return [
        Row(
            "engines",
            f"analyze {rows:,}-row CSV ({mb:.0f} MB, {source}) by the agent over HTTP, median of {_RUNS}",
            mp_s,
            "s",
            "pandas",
            mp_s / p_s,
            "multipart upload in 1 MiB pieces, end to end",
        ),
        Row(
            "engines",
            "analyze agent, handler time (upload received)",
            mp_h,
            "s",
            "pandas",
            mp_h / p_s,
            "the agent's usage.duration_ms: load+validate+describe+top+corr",
        ),
        Row(
            "engines",
            "analyze agent peak RSS (multipart)",
            mp_rss,
            "MB",
            "pandas",
            mp_rss / p_rss,
            f"the agent process's VmHWM; {idle:.0f} MB warm and idle",
        ),
        Row("engines", "analyze agent, JSON/base64 upload", js_s, "s", "pandas", js_s / p_s, "older form"),
        Row("engines", "analyze agent peak RSS (JSON/base64)", js_rss, "MB", "pandas", js_rss / p_rss),
        Row(
            "engines",
            "analyze engine in-process, file whole (script)",
            o_s,
            "s",
            "pandas",
            o_s / p_s,
            "load+validate+describe+top+corr",
        ),
        Row("engines", "analyze engine in-process peak RSS", o_rss, "MB", "pandas", o_rss / p_rss),
        Row("engines", "pandas read+describe+corr (comparison)", p_s, "s"),
        Row("engines", "pandas peak RSS (comparison)", p_rss, "MB"),
        Row("engines", "pandas from the bytes in memory (comparison)", m_s, "s", note="as the agent gets it"),
        Row("engines", "pandas from the bytes in memory, peak RSS", m_rss, "MB", "ours/this", o_rss / m_rss),
        Row(
            "engines",
            "pandas from the bytes with the agent runtime, peak RSS",
            a_rss,
            "MB",
            "ours/this",
            o_rss / a_rss,
            "a pandas agent",
        ),
    ]


_UPLOAD_ROWS = 250_000  # about 24 MB of CSV: just under the protocol's 25 MiB upload cap


async def upload_rows() -> list[Row]:
    """`analyze` through the real agent over HTTP at the default upload cap, sent as the client sends
    it to a current agent (multipart): the agent's peak RSS over its idle RSS, against the file's size."""
    from agent_client._multipart import encode_multipart
    from spotrun.protocol import AgentRequest

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.csv"
        make_csv(_UPLOAD_ROWS, path)
        data = path.read_bytes()
    raw = request("analyze", {}, [("upload.csv", "text/csv", data)], job="upload-1")
    body, content_type = encode_multipart(AgentRequest.model_validate(raw))
    with agent_process("data-analysis") as (proc, url):
        await ready(url, proc)
        # A small file first: the engine's own first-use allocations are not the upload's.
        await call(url, "analyze", request("analyze", {}, [("w.csv", "text/csv", b"a,b\n1,x\n")], job="w"))
        idle = peak_rss_mb(proc.pid)
        started = time.perf_counter()
        await call_raw(url, "analyze", body, content_type, "upload-1")
        took = time.perf_counter() - started
        peak = peak_rss_mb(proc.pid)
    mb = len(data) / 2**20
    return [
        Row(
            "engines",
            f"analyze {_UPLOAD_ROWS:,}-row CSV ({mb:.0f} MiB) through the agent (multipart): peak RSS added",
            peak - idle,
            "MB",
            "file size",
            (peak - idle) / mb,
            f"idle {idle:.0f} MB, peak {peak:.0f} MB, {took:.2f}s end to end",
        )
    ]


async def media_rows() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "tone.wav"
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:duration=10",
                "-ar",
                "44100",
                "-ac",
                "2",
                str(wav),
            ],
            check=True,
        )
        data = wav.read_bytes()
        times = []
        for _ in range(5):
            t = time.perf_counter()
            subprocess.run(
                [
                    "ffmpeg",
                    "-v",
                    "error",
                    "-y",
                    "-i",
                    str(wav),
                    "-codec:a",
                    "libmp3lame",
                    "-q:a",
                    "4",
                    str(Path(tmp) / "raw.mp3"),
                ],
                check=True,
            )
            times.append(time.perf_counter() - t)
        raw = median(times)
        with agent_process("audio-video") as (proc, url):
            await ready(url, proc)
            runs = []
            for i in range(5):
                res = await call(
                    url,
                    "convert",
                    request("convert", {"target": "mp3"}, [("tone.wav", "audio/wav", data)], job=f"c{i}"),
                )
                runs.append(res["usage"]["duration_ms"] / 1000)
    agent = median(runs)
    return [
        Row(
            "engines",
            "convert 10 s WAV -> MP3 (agent, median of 5)",
            agent,
            "s",
            "raw ffmpeg CLI",
            agent / raw,
            "agent adds ffprobe + limits",
        ),
        Row("engines", "raw ffmpeg WAV -> MP3 (comparison)", raw, "s"),
    ]


async def image_rows() -> list[Row]:
    from PIL import Image

    buf = io.BytesIO()
    Image.effect_mandelbrot((1024, 1024), (-2, -1.5, 1, 1.5), 100).convert("RGB").save(buf, "PNG")
    data = buf.getvalue()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        img = Image.open(io.BytesIO(data))
        out = io.BytesIO()
        img.resize((2048, 2048), Image.Resampling.LANCZOS).save(out, "PNG")
        times.append(time.perf_counter() - t)
    raw = median(times)
    with agent_process("image-gen") as (proc, url):
        await ready(url, proc)
        runs = []
        for i in range(5):
            res = await call(
                url, "enhance", request("enhance", {"scale": 2}, [("m.png", "image/png", data)], job=f"e{i}")
            )
            runs.append(res["usage"]["duration_ms"] / 1000)
    agent = median(runs)
    return [
        Row(
            "engines",
            "enhance x2 of 1024² (agent, median of 5)",
            agent,
            "s",
            "Pillow resize+PNG",
            agent / raw,
            "agent adds sharpen, checks and an isolated child",
        ),
        Row("engines", "Pillow LANCZOS x2 + PNG encode (comparison)", raw, "s"),
    ]


async def run(rows: int = 1_000_000) -> list[Row]:
    out = scraper_rows()
    out += await analysis_rows(rows)
    out += await analysis_rows(rows, public=True)
    out += await upload_rows()
    out += forecasting.rows()
    out += await media_rows()
    out += await image_rows()
    from bench import image_quality  # scikit-image: the independent scorer and the photos

    out += image_quality.rows()
    return out


if __name__ == "__main__":
    from bench._util import render_table

    print(render_table(asyncio.run(run(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))))
