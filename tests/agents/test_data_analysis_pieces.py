"""A CSV upload held in pieces is parsed batch by batch: same table and same errors as the whole file."""

from __future__ import annotations

import tracemalloc

import polars as pl
import pytest

from agents.common import AgentFailure
from agents.data_analysis.handlers import analyze_file
from agents.data_analysis.loader import Table, load_table, record_batches
from agents.data_analysis.settings import AnalysisSettings
from spotrun.protocol import InputFile

# Batches of ~1 KiB: every test file below is parsed in several, cut at record boundaries.
TINY = AnalysisSettings(infer_rows=100, csv_batch_mb=1 / 1024, max_rows=5000)


def cut(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def pieces_of(data: bytes, size: int = 37, name: str = "t.csv") -> InputFile:
    return InputFile.from_pieces(name, "text/csv", cut(data, size))


def whole(data: bytes, name: str = "t.csv") -> InputFile:
    return InputFile(name=name, content_type="text/csv", data=data)


def read(file: InputFile, settings: AnalysisSettings = TINY, compact: bool = True) -> Table:
    return load_table(file, settings, consume=True, compact=compact)


def failure(file: InputFile, settings: AnalysisSettings = TINY, compact: bool = True) -> tuple[str, str]:
    with pytest.raises(AgentFailure) as caught:
        read(file, settings, compact)
    return str(caught.value.code), caught.value.message


def quoted_csv(rows: int) -> bytes:
    """Quoted fields holding newlines, delimiters and escaped quotes, on every few rows."""
    out = ["id,city,note,amount"]
    for i in range(rows):
        note = f'"line one\nline ""two"" of {i}, with a comma"' if i % 3 == 0 else f"plain {i}"
        out.append(f"{i},{['Paris', 'Lyon', 'Nice'][i % 3]},{note},{i * 1.5}")
    return ("\r\n" if rows % 2 else "\n").join(out).encode() + b"\n"


@pytest.mark.parametrize("size", [1, 7, 64, 1000, 5000])
def test_batches_end_at_record_boundaries_and_keep_every_byte(size: int) -> None:
    data = quoted_csv(300)
    batches = list(record_batches(cut(data, size), 1024))
    assert b"".join(batches) == data
    assert len(batches) >= min(4, len(cut(data, size)))
    for batch in batches:
        assert batch.endswith(b"\n") and batch.count(b'"') % 2 == 0  # never inside a quoted field


@pytest.mark.parametrize("compact", [True, False])  # analyze; chart and predict (the file's types)
@pytest.mark.parametrize("size", [1, 37, 1000, 1 << 20])
def test_quoted_newlines_across_pieces_parse_as_the_whole_file(size: int, compact: bool) -> None:
    data = quoted_csv(301)
    ours, theirs = read(pieces_of(data, size), compact=compact), read(whole(data), compact=compact)
    assert ours.frame.equals(theirs.frame) and ours.frame.schema == theirs.frame.schema
    assert ours.compact == theirs.compact and ours.format == theirs.format
    assert ours.frame.height == 301 and ours.frame["note"][0] == 'line one\nline "two" of 0, with a comma'
    assert isinstance(ours.frame.schema["city"], pl.Categorical) is compact


def test_analyze_of_a_file_in_pieces_frees_it_and_matches_the_whole_file() -> None:
    data = b"\xef\xbb\xbf" + quoted_csv(500)  # a BOM, stripped from the first piece only
    file = pieces_of(data, 100)
    assert file.size == len(data) and file.data == b""
    ours = analyze_file(file, TINY, None)
    assert file.size == 0 and file.pieces() == []  # the upload's bytes were let go
    assert ours == analyze_file(whole(data), TINY, None)


def test_a_file_in_pieces_is_never_joined_whole() -> None:
    data = quoted_csv(150_000)  # ~6.5 MB, in 256 KiB pieces
    settings = AnalysisSettings(infer_rows=100, csv_batch_mb=0.5, max_rows=10**6)
    file = pieces_of(data, 1 << 18)
    tracemalloc.start()
    try:
        read(file, settings)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Python-side buffers (polars' own are not traced): the pieces are not copied, a batch at a time is.
    assert peak < len(data) / 4, f"{peak} bytes traced for a {len(data)}-byte file"


def test_an_integer_past_int32_in_a_later_batch_reads_every_batch_in_the_files_types() -> None:
    rows = [f"{i},{['a', 'b'][i % 2]},{2**40 if i == 900 else i % 50}" for i in range(1000)]
    data = ("k,s,n\n" + "\n".join(rows) + "\n").encode()
    ours, theirs = read(pieces_of(data)), read(whole(data))
    assert ours.frame.schema["n"] == pl.Int64 and ours.frame.schema["s"] == pl.String
    assert ours.frame.equals(theirs.frame) and ours.compact == theirs.compact == {}


def _rows(n: int) -> bytes:
    return b"".join(b"%d,a fairly long name for row %d,%d\n" % (i, i, i % 7) for i in range(n))


BAD = {
    # too many fields deep in the file: polars refuses the batch; the line is named as in the file
    "long": b"k,name,v\n" + _rows(600) + b"9,x,1,extra\n" + _rows(50),
    # a short row: polars pads it with a null; the shape check names it
    "short": b"k,name,v\n" + _rows(600) + b"9,x\n" + _rows(50),
    # a quoted newline before the bad row shifts physical line numbers
    "quoted": b'k,name,v\n1,"two\nlines",3\n' + _rows(600) + b"9\n" + _rows(50),
    # text in a number column below the type-inference head
    "typed": b"k,name,v\n" + _rows(600) + b"9,x,seven\n" + _rows(50),
    # a byte that is not UTF-8 past the 64 KiB sample
    "latin1": b"k,name,v\n" + _rows(3000) + b"9,caf\xe9,1\n" + _rows(50),
    # more rows than the cap: the file is read whole, as before
    "rows": b"k,name,v\n" + _rows(5200),
}


@pytest.mark.parametrize("compact", [True, False])
@pytest.mark.parametrize("kind", sorted(BAD))
@pytest.mark.parametrize("size", [29, 4096])
def test_errors_in_pieces_are_the_whole_files_errors(kind: str, size: int, compact: bool) -> None:
    data = BAD[kind]
    expected = failure(whole(data), compact=compact)
    assert failure(pieces_of(data, size), compact=compact) == expected
    if kind in ("long", "short"):
        assert "line 602: expected 3 fields, found" in expected[1]
    if kind == "quoted":
        assert "line 604: expected 3 fields, found 1" in expected[1]
    if kind == "latin1":
        assert "is not UTF-8 text (byte" in expected[1]


def test_an_oversized_or_empty_file_in_pieces_gets_the_same_message() -> None:
    data = _rows(2000)
    small = AnalysisSettings(max_file_mb=0.01, csv_batch_mb=1 / 1024)
    assert failure(pieces_of(b"k,name,v\n" + data), small) == failure(whole(b"k,name,v\n" + data), small)
    assert failure(pieces_of(b" \n" * 800), TINY) == failure(whole(b" \n" * 800), TINY)
    assert failure(InputFile.from_pieces("e.csv", "text/csv", []), TINY) == failure(whole(b"", "e.csv"))
