"""The data-analysis agent over real HTTP: real polars, matplotlib and forecasting on generated files."""

from __future__ import annotations

import base64
import io
import json
import struct
from typing import Any

import aiohttp
import polars as pl
import pytest

from agents.common import AgentSettings
from agents.data_analysis.app import build
from agents.data_analysis.settings import AnalysisSettings
from spotrun.protocol import AgentResult
from tests.helpers import serve

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def output_file(body: dict[str, Any]) -> bytes:
    """Decoded the way the bot decodes it: through the protocol model."""
    return AgentResult.model_validate(body).files[0].data


def csv_1_to_100() -> bytes:
    # a = 1..100 (mean 50.5, median 50.5, min 1, max 100); b = 2a + 1 (r = 1); c cycles x/y/z; d has nulls.
    lines = ["a,b,c,d"]
    for i in range(1, 101):
        lines.append(f"{i},{2 * i + 1},{'xyz'[i % 3]},{'' if i % 10 == 0 else i / 2}")
    return ("\n".join(lines) + "\n").encode()


async def call(
    base: str, command: str, args: dict[str, Any], name: str, data: bytes, content_type: str = "text/csv"
) -> tuple[int, dict[str, Any]]:
    body = {
        "job_id": f"job-{command}-{abs(hash((name, data, json.dumps(args)))) % 10**12}",
        "command": command,
        "args": args,
        "files": [{"name": name, "content_type": content_type, "data": base64.b64encode(data).decode()}],
        "context": {"user_id": "1"},
    }
    async with aiohttp.ClientSession() as session, session.post(f"{base}/v1/{command}", json=body) as resp:
        return resp.status, await resp.json()


@pytest.fixture
async def agent():
    app = build(AgentSettings(auth="none"), AnalysisSettings(max_file_mb=1, max_rows=5000))
    async with serve(app) as base:
        yield base


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    width, height = struct.unpack(">II", data[16:24])  # IHDR is always the first chunk
    return width, height


async def test_analyze_csv_known_statistics(agent: str) -> None:
    status, body = await call(agent, "analyze", {}, "numbers.csv", csv_1_to_100())
    assert status == 200, body
    data = body["data"]
    assert data["rows"] == 100
    cols = {c["name"]: c for c in data["columns"]}
    assert cols["a"]["dtype"] == "Int64"
    assert cols["a"]["stats"]["mean"] == pytest.approx(50.5)
    assert cols["a"]["stats"]["median"] == pytest.approx(50.5)
    assert cols["a"]["stats"]["min"] == 1 and cols["a"]["stats"]["max"] == 100
    assert cols["a"]["stats"]["std"] == pytest.approx(29.011491975882016)
    assert cols["a"]["stats"]["q25"] == pytest.approx(25.75)
    assert cols["d"]["nulls"] == 10
    assert {t["value"] for t in cols["c"]["top"]} == {"x", "y", "z"}
    assert cols["c"]["top"][0]["count"] == 34  # i % 3 == 1 occurs 34 times in 1..100 → "y"
    assert data["correlations"][0]["r"] == pytest.approx(1.0)
    assert {data["correlations"][0]["a"], data["correlations"][0]["b"]} == {"a", "b"}
    assert "100 rows × 4 columns" in body["text"]
    assert "```" in body["text"] and "50.5" in body["text"]
    assert len(body["text"]) <= 4096
    assert all(len(f["value"]) <= 1024 for f in body["fields"]) and len(body["fields"]) <= 25
    assert any(f["name"].startswith("Top c") for f in body["fields"])


async def test_analyze_column_filter_and_unknown_column(agent: str) -> None:
    status, body = await call(agent, "analyze", {"columns": ["a", "c"]}, "n.csv", csv_1_to_100())
    assert status == 200
    assert [c["name"] for c in body["data"]["columns"]] == ["a", "c"]
    status, body = await call(agent, "analyze", {"columns": ["a", "price"]}, "n.csv", csv_1_to_100())
    assert status == 422
    message = body["error"]["message"]
    assert "'price'" in message and "available columns: a, b, c, d" in message


async def test_analyze_tsv_json_ndjson_parquet(agent: str) -> None:
    tsv = b"city\ttemp\nOslo\t3.5\nRome\t18.5\nLima\t20\n"
    status, body = await call(agent, "analyze", {}, "weather.tsv", tsv, "text/tab-separated-values")
    assert status == 200, body
    assert body["data"]["format"] == "csv (tab-separated)"
    temp = next(c for c in body["data"]["columns"] if c["name"] == "temp")
    assert temp["stats"]["mean"] == pytest.approx(14.0)

    records = json.dumps([{"k": i, "v": i * i} for i in range(1, 11)]).encode()
    status, body = await call(agent, "analyze", {}, "data.json", records, "application/json")
    assert status == 200, body
    assert body["data"]["format"] == "json"
    assert body["data"]["columns"][1]["stats"]["mean"] == pytest.approx(38.5)  # mean of 1..10 squared

    ndjson = b"".join(json.dumps({"k": i}).encode() + b"\n" for i in range(5))
    status, body = await call(agent, "analyze", {}, "rows.jsonl", ndjson, "application/octet-stream")
    assert status == 200, body
    assert body["data"]["format"] == "ndjson" and body["data"]["rows"] == 5

    buffer = io.BytesIO()
    pl.DataFrame({"x": list(range(1, 101)), "label": ["p", "q"] * 50}).write_parquet(buffer)
    status, body = await call(
        agent, "analyze", {"columns": ["x"]}, "blob.bin", buffer.getvalue(), "application/octet-stream"
    )
    assert status == 200, body
    assert body["data"]["format"] == "parquet"
    assert body["data"]["columns"][0]["stats"]["mean"] == pytest.approx(50.5)


async def test_malformed_csv_names_the_line(agent: str) -> None:
    bad = b"a,b,c,d\n1,2,3,4\n5,6,7,8\n1,2,3,4\n1,2,3,4\n1,2,3,4\n1,2,3,4,5,6\n"
    status, body = await call(agent, "analyze", {}, "bad.csv", bad)
    assert status == 422
    assert body["error"]["code"] == "invalid_argument"
    assert "line 7: expected 4 fields, found 6" in body["error"]["message"]
    short = b"a,b,c\n1,2,3\n4,5\n"  # polars alone would pad this row with nulls
    status, body = await call(agent, "analyze", {}, "short.csv", short)
    assert status == 422 and "line 3: expected 3 fields, found 2" in body["error"]["message"]


@pytest.mark.parametrize(
    ("name", "data", "status", "code", "phrase"),
    [
        ("empty.csv", b"", 422, "invalid_argument", "is empty"),
        ("header.csv", b"a,b\n", 422, "invalid_argument", "no data rows"),
        ("noise.csv", bytes(range(256)) * 8, 415, "unsupported_media", "binary data"),
        ("book.xlsx", b"PK\x03\x04" + b"\x00" * 64, 415, "unsupported_media", "export the sheet as CSV"),
        ("broken.json", b'[{"a": 1},\n {"a": 2', 422, "invalid_argument", "line 2: invalid JSON"),
        ("fake.parquet", b"a,b\n1,2\n", 422, "invalid_argument", "lacks the PAR1 header"),
    ],
)
async def test_bad_files_get_clear_errors(
    agent: str, name: str, data: bytes, status: int, code: str, phrase: str
) -> None:
    got, body = await call(agent, "analyze", {}, name, data)
    assert got == status, body
    assert body["error"]["code"] == code
    assert phrase in body["error"]["message"]


async def test_oversized_upload_and_too_many_rows(agent: str) -> None:
    big = b"a\n" + b"1234567\n" * 200_000  # 1.6 MB, over the 1 MiB test limit
    status, body = await call(agent, "analyze", {}, "big.csv", big)
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    assert "limit is 1 MiB" in body["error"]["message"]
    rows = b"a\n" + b"1\n" * 6000
    status, body = await call(agent, "analyze", {}, "rows.csv", rows)
    assert status == 413 and "more than 5,000 rows" in body["error"]["message"]


@pytest.mark.parametrize(
    ("args", "x", "y"),
    [
        ({"kind": "line", "x": "a", "y": ["b"], "title": "B over A"}, "a", ["b"]),
        ({"kind": "bar", "x": "c", "y": ["a"]}, "c", ["a"]),
        ({"kind": "histogram", "y": ["a"]}, None, ["a"]),
        ({"kind": "scatter"}, "a", ["b"]),
        ({"kind": "line"}, "c", ["a", "b", "d"]),
    ],
)
async def test_chart_returns_png(agent: str, args: dict[str, Any], x: str | None, y: list[str]) -> None:
    status, body = await call(agent, "chart", args, "n.csv", csv_1_to_100())
    assert status == 200, body
    png = output_file(body)
    assert png_size(png) == (1000, 550)
    assert body["files"][0]["content_type"] == "image/png"
    assert len(png) < 10 * 1024 * 1024
    assert body["data"]["x"] == x and body["data"]["y"] == y
    if args["kind"] == "bar":
        assert "summed" in body["text"]  # three categories over 100 rows


async def test_chart_errors(agent: str) -> None:
    status, body = await call(agent, "chart", {"kind": "line", "y": ["nope"]}, "n.csv", csv_1_to_100())
    assert status == 422 and "unknown column 'nope'" in body["error"]["message"]
    status, body = await call(agent, "chart", {"kind": "line", "x": "a", "y": ["c"]}, "n.csv", csv_1_to_100())
    assert status == 422
    assert (
        "'c' is String" in body["error"]["message"] and "numeric columns: a, b, d" in body["error"]["message"]
    )


async def test_predict_perfect_line(agent: str) -> None:
    data = "t,v\n" + "".join(f"{t},{3 * t + 7}\n" for t in range(1, 31))
    for method in ("linear", "holt", "auto"):
        status, body = await call(
            agent,
            "predict",
            {"column": "v", "x": "t", "steps": 3, "method": method},
            "line.csv",
            data.encode(),
        )
        assert status == 200, body
        got = body["data"]["forecast"]
        assert [p["x"] for p in got] == ["31", "32", "33"]
        assert [p["value"] for p in got] == pytest.approx([100.0, 103.0, 106.0], abs=1e-6)
        assert png_size(output_file(body))[0] == 1000
    assert body["data"]["method"] == "linear"  # auto: a tie goes to the simpler model
    assert "Auto chose linear" in body["text"] and "holdout MAE" in body["text"]


async def test_predict_auto_picks_holt_for_a_level_shift(agent: str) -> None:
    # Flat at 10, then flat at 50: a straight line through all of it is badly wrong at the end;
    # Holt's smoothing follows the new level.
    values = [10.0] * 40 + [50.0] * 20
    data = "v\n" + "".join(f"{v}\n" for v in values)
    status, body = await call(agent, "predict", {"column": "v", "steps": 5}, "shift.csv", data.encode())
    assert status == 200, body
    assert body["data"]["method"] == "holt"
    assert body["data"]["holdout_rmse"]["holt"] < body["data"]["holdout_rmse"]["linear"]
    assert body["data"]["forecast"][0]["value"] == pytest.approx(50.0, abs=2.0)
    assert "Holt's linear exponential smoothing" in body["text"]


async def test_predict_errors(agent: str) -> None:
    status, body = await call(agent, "predict", {"column": "c"}, "n.csv", csv_1_to_100())
    assert status == 422 and "a forecast needs numbers" in body["error"]["message"]
    status, body = await call(agent, "predict", {"column": "zz"}, "n.csv", csv_1_to_100())
    assert status == 422 and "available columns" in body["error"]["message"]
    status, body = await call(agent, "predict", {"column": "a"}, "two.csv", b"a\n1\n2\n")
    assert status == 422 and "at least 3" in body["error"]["message"]


# ------------------------------------------------------------------ caps decided before decoding


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b'[{"a": 1}, {"a": 2}]', 2),
        (b'[{"a": "[[[[{{{{"}]', 2),  # brackets inside a string do not count
        (b'[{"a": "say \\"[[[\\" twice", "b": [[1]]}]', 4),  # escaped quotes stay inside the string
        (b'[{"a": "ends in a backslash \\\\", "b": [[[1]]]}]', 5),  # an escaped backslash closes it
        (b'{"k": 1}\n{"k": {"j": [1]}}\n', 3),
        (b"1", 0),
    ],
)
def test_json_depth_prescan(text: bytes, depth: int) -> None:
    from agents.data_analysis.caps import json_depth

    assert json_depth(text) == depth
    if depth:
        doc = [json.loads(line) for line in text.splitlines()] if b"\n" in text else [json.loads(text)]
        assert doc  # the cases are valid JSON: the scan is checked against real documents


def test_parquet_footer_counts_rows_columns_and_decoded_size() -> None:
    from agents.data_analysis.parquet_footer import FooterError, read_footer

    frame = pl.DataFrame(
        {"a": list(range(1000)), "s": ["word"] * 1000, "n": [{"p": 1, "q": [1.0, 2.0]}] * 1000}
    )
    buffer = io.BytesIO()
    frame.write_parquet(buffer, row_group_size=300)
    footer = read_footer(buffer.getvalue(), 1 << 20, 10**6)
    assert (footer.num_rows, footer.row_groups, footer.columns) == (1000, 4, ["a", "s", "n"])
    assert footer.decoded_bytes(["a"]) == 8000  # 1000 Int64 values
    assert footer.decoded_bytes() >= frame.estimated_size() * 0.5
    data = buffer.getvalue()
    for damaged in (
        data[:-4] + b"PAR2",
        data[:100] + data[-8:],
        data[:-8] + (10**6).to_bytes(4, "little") + b"PAR1",
    ):
        with pytest.raises(FooterError):
            read_footer(damaged, 1 << 20, 10**6)


async def test_caps_name_their_limits(agent: str) -> None:
    # 2,000 records with a new key each would be a 2,000 × 2,000 table: refused from the keys.
    keys = json.dumps([{f"k{i}": i} for i in range(2000)]).encode()
    status, body = await call(agent, "analyze", {}, "keys.json", keys, "application/json")
    assert status == 413 and "2,000 columns; the limit is 500" in body["error"]["message"]
    wide = (",".join(f"c{i}" for i in range(600)) + "\n" + ",".join("1" * 600) + "\n").encode()
    status, body = await call(agent, "analyze", {}, "wide.csv", wide)
    assert status == 413 and "600 columns; the limit is 500" in body["error"]["message"]
    buffer = io.BytesIO()
    pl.DataFrame({"x": list(range(6000))}).write_parquet(buffer)
    status, body = await call(
        agent, "analyze", {}, "many.parquet", buffer.getvalue(), "application/octet-stream"
    )
    assert status == 413 and "6,000 rows; the limit is 5,000" in body["error"]["message"]
    status, body = await call(agent, "analyze", {}, "deep.json", b"[" * 30 + b"]" * 30, "application/json")
    assert status == 413 and "30 levels deep; the limit is 20" in body["error"]["message"]


async def test_unique_does_not_count_empty_cells(agent: str) -> None:
    # Two values and empty cells (unquoted and quoted-empty): "2 unique", never 3.
    data = b'k,c\n1,x\n2,\n3,y\n4,""\n5,x\n6,  \n'
    status, body = await call(agent, "analyze", {}, "empties.csv", data)
    assert status == 200, body
    column = next(c for c in body["data"]["columns"] if c["name"] == "c")
    assert column["unique"] == 2
    assert {t["value"] for t in column["top"]} == {"x", "y"}
    assert any(f["name"] == "Top c (2 unique)" for f in body["fields"])
    records = json.dumps([{"c": "x"}, {"c": None}, {"c": "y"}, {"c": ""}]).encode()
    status, body = await call(agent, "analyze", {}, "empties.json", records, "application/json")
    assert status == 200 and body["data"]["columns"][0]["unique"] == 2


# ------------------------------------------------------------------ numbers and dates


def table_row(text: str, column: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(column + " "))


async def test_summary_table_uses_one_format_per_column(agent: str) -> None:
    # Statistics spanning 7,221 … 13,420 were printed as "7,221" next to "1.342e+04".
    values = [7221, 9000, 10500, 13420, 12000, 8000]
    small = [0.5, 0.25, 1.75, 2.5, 0.125, 1.0]
    data = "visits,ratio\n" + "".join(f"{v},{s}\n" for v, s in zip(values, small, strict=True))
    status, body = await call(agent, "analyze", {}, "visits.csv", data.encode())
    assert status == 200, body
    row = table_row(body["text"], "visits")
    assert "e+" not in row
    assert "7,221" in row and "13,420" in row and "10,024" in row  # min, max, mean (10,023.5 rounds up)
    ratio = table_row(body["text"], "ratio").split()[3:]
    assert len({len(v.split(".")[1]) for v in ratio}) == 1, ratio  # same decimals for every statistic
    assert "0.125" in ratio and "2.500" in ratio


def monthly_csv(days: list[str]) -> bytes:
    return ("date,sales\n" + "".join(f"{d},{100 + 3 * i}\n" for i, d in enumerate(days))).encode()


async def test_predict_finds_the_date_column_and_keeps_month_ends(agent: str) -> None:
    import calendar

    ends = [
        f"{y}-{m:02d}-{calendar.monthrange(y, m)[1]:02d}" for y in (2001, 2002, 2003) for m in range(1, 13)
    ]
    status, body = await call(agent, "predict", {"column": "sales", "steps": 4}, "m.csv", monthly_csv(ends))
    assert status == 200, body
    assert [p["x"] for p in body["data"]["forecast"]] == [
        "2004-01-31",
        "2004-02-29",
        "2004-03-31",
        "2004-04-30",
    ]
    assert body["data"]["x"] == "date" and body["data"]["frequency"] == "monthly"
    assert "2004-02-29" in body["text"] and "monthly" in body["text"]


async def test_predict_monthly_steps_do_not_drift(agent: str) -> None:
    fourths = [f"{y}-{m:02d}-04" for y in (2000, 2001) for m in range(1, 13)]
    status, body = await call(
        agent, "predict", {"column": "sales", "x": "date", "steps": 14}, "m.csv", monthly_csv(fourths)
    )
    assert status == 200, body
    xs = [p["x"] for p in body["data"]["forecast"]]
    assert xs[:3] == ["2002-01-04", "2002-02-04", "2002-03-04"] and xs[-1] == "2003-02-04"


async def test_predict_weekly_and_quarterly_steps(agent: str) -> None:
    weeks = [f"2024-{m:02d}-{d:02d}" for m, d in ((1, 1), (1, 8), (1, 15), (1, 22), (1, 29), (2, 5))]
    status, body = await call(agent, "predict", {"column": "sales", "steps": 2}, "w.csv", monthly_csv(weeks))
    assert status == 200, body
    assert [p["x"] for p in body["data"]["forecast"]] == ["2024-02-12", "2024-02-19"]
    assert body["data"]["frequency"] == "weekly"
    quarters = [f"{y}-{m:02d}-01" for y in (2020, 2021) for m in (1, 4, 7, 10)]
    status, body = await call(
        agent, "predict", {"column": "sales", "steps": 2}, "q.csv", monthly_csv(quarters)
    )
    assert status == 200, body
    assert [p["x"] for p in body["data"]["forecast"]] == ["2022-01-01", "2022-04-01"]
    assert body["data"]["frequency"] == "quarterly"


async def test_predict_values_share_one_format(agent: str) -> None:
    data = "v\n" + "".join(f"{99990 + 3 * i}\n" for i in range(12))
    status, body = await call(
        agent, "predict", {"column": "v", "steps": 6, "method": "linear"}, "v.csv", data.encode()
    )
    assert status == 200, body
    block = body["text"].split("```")[1]
    assert "e+" not in block and "100,026" in block and "100,041" in block


async def test_csv_single_pass_still_refuses_bad_text_and_short_rows(agent: str) -> None:
    # The invalid byte sits past the 64 KiB sample, where only the full read sees it.
    rows = b"".join(b"%d,a fairly long name for row %d\n" % (i, i) for i in range(3000))
    status, body = await call(agent, "analyze", {}, "late.csv", b"k,name\n" + rows + b"9,caf\xe9\n")
    assert status == 415 and "is not UTF-8 text (byte" in body["error"]["message"]
    # A short row deep in the file, after thousands of good ones: polars would pad it with a null.
    status, body = await call(agent, "analyze", {}, "short.csv", b"k,name\n" + rows + b"9\n" + rows[:20])
    assert status == 422 and "line 3002: expected 2 fields, found 1" in body["error"]["message"]
    # Dates are recognised from text without polars' whole-file attempt on every column.
    dated = b"day,city\n" + b"".join(b"2024-01-%02d,Paris\n" % d for d in range(1, 29))
    status, body = await call(agent, "analyze", {}, "dated.csv", dated)
    assert status == 200 and [c["dtype"] for c in body["data"]["columns"]] == ["Date", "String"]


async def test_ndjson_fast_path_keeps_caps_and_messages(agent: str) -> None:
    keys = b"\n".join(json.dumps({f"k{i}": i}).encode() for i in range(700))
    status, body = await call(agent, "analyze", {}, "keys.jsonl", keys, "application/x-ndjson")
    assert status == 413 and "700 columns; the limit is 500" in body["error"]["message"]
    mixed = b'{"a": 1, "b": 2}\n{"a": "x", "b": 3}\n'  # polars refuses the type change; Python reads it
    status, body = await call(agent, "analyze", {}, "mixed.jsonl", mixed, "application/x-ndjson")
    assert status == 200 and body["data"]["rows"] == 2, body
    status, body = await call(
        agent, "analyze", {}, "bad.jsonl", b'{"a": 1}\n{"a": \n', "application/x-ndjson"
    )
    assert status == 422 and "line 2: invalid JSON" in body["error"]["message"]


@pytest.mark.parametrize("size", [0, 1, (1 << 22) - 1, 1 << 22, (1 << 22) + 1, 3 * (1 << 22) + 5])
def test_line_count_for_the_cell_cap_matches_bytes_count_across_slices(size: int) -> None:
    from agents.data_analysis import caps

    # Newlines on both sides of every 4 MiB slice boundary, and none elsewhere.
    data = bytearray(b"x" * size)
    for at in range(0, size, 1 << 22):
        for i in (at - 1, at):
            if 0 <= i < size:
                data[i] = 0x0A
    assert caps.count_lines(bytes(data)) == bytes(data).count(b"\n")


def _narrow_csv(rows: int, big_at: int | None = None) -> bytes:
    lines = ["city,code,n,when"]
    for i in range(rows):
        city = "  " if i == 7 else ["Paris", "Lyon", "Nice"][i % 3]  # a blank cell is not a value
        n = 2**40 if i == big_at else i % 50
        lines.append(f"{city},u{i:05d},{n},2024-01-{1 + i % 28:02d}")
    return ("\n".join(lines) + "\n").encode()


def test_analyze_holds_repetitive_text_and_small_integers_narrow() -> None:
    from agents.data_analysis.handlers import analyze_file
    from agents.data_analysis.loader import load_table
    from spotrun.protocol import InputFile

    data = _narrow_csv(600)

    def upload() -> InputFile:
        return InputFile(name="t.csv", content_type="text/csv", data=data)

    table = load_table(upload(), AnalysisSettings(), compact=True)
    schema = table.frame.schema
    assert isinstance(schema["city"], pl.Categorical)  # 3 values over 600 rows
    assert schema["code"] == pl.String  # every value distinct: views are cheaper
    assert schema["n"] == pl.Int32 and schema["when"] == pl.Date
    assert dict(table.compact) == {"city": "String", "n": "Int64"}
    # The user sees the file's types and the same statistics as without the narrow types.
    _, stats = analyze_file(upload(), AnalysisSettings(), None)
    cols = {c["name"]: c for c in stats["columns"]}
    assert cols["city"]["dtype"] == "String" and cols["n"]["dtype"] == "Int64"
    assert cols["city"]["unique"] == 3
    assert [t["value"] for t in cols["city"]["top"]] == ["Nice", "Paris", "Lyon"]  # 200, 200, 199
    assert cols["n"]["stats"]["max"] == 49 and cols["n"]["stats"]["median"] == pytest.approx(24.5)
    assert load_table(upload(), AnalysisSettings()).compact == {}  # charts and forecasts: the file's types


def test_integer_past_int32_below_the_head_is_read_in_full() -> None:
    from agents.data_analysis.handlers import analyze_file
    from spotrun.protocol import InputFile

    data = _narrow_csv(400, big_at=300)  # the head (100 rows) holds only small integers
    _, stats = analyze_file(
        InputFile(name="t.csv", content_type="text/csv", data=data), AnalysisSettings(infer_rows=100), None
    )
    n = next(c for c in stats["columns"] if c["name"] == "n")
    assert n["dtype"] == "Int64" and n["stats"]["max"] == 2**40
