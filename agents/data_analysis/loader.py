"""Reads an uploaded CSV/TSV/JSON/NDJSON/Parquet file into a polars DataFrame, or says why it can't."""

from __future__ import annotations

import bisect
import codecs
import csv
import io
import itertools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from agents.common import AgentFailure
from agents.data_analysis import caps
from agents.data_analysis.settings import AnalysisSettings
from spotrun.protocol import ErrorCode, InputFile

if TYPE_CHECKING:
    import polars as pl

Format = Literal["csv", "json", "ndjson", "parquet"]

_SUPPORTED = "CSV, TSV, JSON, NDJSON or Parquet"
_BY_SUFFIX: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".tab": "csv",
    ".txt": "csv",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_BY_TYPE: dict[str, Format] = {
    "text/csv": "csv",
    "text/tab-separated-values": "csv",
    "application/json": "json",
    "application/x-ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
}
# Well-known binary formats people attach by mistake, with what to do instead.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "looks like a ZIP or Excel (.xlsx) file — export the sheet as CSV and attach that"),
    (b"\xd0\xcf\x11\xe0", "looks like an old Excel (.xls) file — export the sheet as CSV and attach that"),
    (b"%PDF", "is a PDF — export the table as CSV and attach that"),
    (b"\x89PNG", "is an image, not a data file — attach a CSV, TSV, JSON or Parquet file"),
    (b"\xff\xd8\xff", "is an image, not a data file — attach a CSV, TSV, JSON or Parquet file"),
    (b"\x1f\x8b", "is gzip-compressed — decompress it and attach the CSV/JSON inside"),
)


@dataclass(frozen=True)
class Table:
    frame: pl.DataFrame
    format: str  # e.g. "csv (tab-separated)"
    # Columns held in a narrower type than the file's, to save memory: name → the file's type
    # (String held as Categorical, Int64 as Int32), which is what the user is shown.
    compact: Mapping[str, str] = field(default_factory=dict)


def _fail(code: ErrorCode, message: str) -> AgentFailure:
    return AgentFailure(code, message)


def detect_format(file: InputFile) -> Format:
    """Name and content type first; the bytes decide when both are vague."""
    data = file.head(65536)
    if data[:4] == b"PAR1":
        return "parquet"
    for magic, why in _MAGIC:
        if data.startswith(magic):
            raise _fail(ErrorCode.UNSUPPORTED_MEDIA, f"{file.name} {why}")
    suffix = PurePosixPath(file.name.lower()).suffix
    declared = _BY_SUFFIX.get(suffix) or _BY_TYPE.get(file.content_type.split(";")[0].strip().lower())
    if declared == "parquet":
        raise _fail(
            ErrorCode.INVALID_ARGUMENT,
            f"{file.name} is named Parquet but lacks the PAR1 header — "
            "the file is damaged or not Parquet; re-export it",
        )
    head = data[:65536]
    if b"\x00" in head:
        raise _fail(
            ErrorCode.UNSUPPORTED_MEDIA,
            f"{file.name} is binary data, not a {_SUPPORTED} file — attach one of those",
        )
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the 64 KiB boundary is fine; anything earlier is not text.
        if exc.start < len(head) - 4:
            raise _fail(
                ErrorCode.UNSUPPORTED_MEDIA,
                f"{file.name} is not UTF-8 text (byte {exc.start}) — save it as UTF-8 {_SUPPORTED}",
            ) from None
        text = head[: exc.start].decode("utf-8")
    stripped = text.lstrip("\ufeff \t\r\n")
    if declared in ("json", "ndjson") or stripped[:1] in ("[", "{"):
        if stripped.startswith("["):
            return "json"
        first = stripped.split("\n", 1)[0].strip()
        try:
            json.loads(first)
        except (ValueError, RecursionError):
            # One object spread over lines ({"a": [1, 2], ...}), or nested past the parser's stack:
            # the depth cap refuses the latter before anything else parses it.
            return "json"
        return "ndjson" if "\n" in stripped.strip() else "json"
    return "csv"


def _check_size(file: InputFile, settings: AnalysisSettings) -> None:
    limit = int(settings.max_file_mb * 1024 * 1024)
    if file.size > limit:
        raise _fail(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"{file.name} is {file.size / 1048576:.1f} MiB; "
            f"the limit is {settings.max_file_mb:g} MiB — attach a smaller file or a sample",
        )
    # isspace stops at the first other byte; strip copies
    if not file.size or all(not p or p.isspace() for p in file.pieces()):
        raise _fail(
            ErrorCode.INVALID_ARGUMENT,
            f"{file.name} is empty — attach a file with a header row and at least one data row",
        )


def _sniff_delimiter(text: str) -> str:
    sample = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        return "\t" if sample.count("\t") > sample.count(",") else ","


def check_csv_shape(
    text: str, delimiter: str, max_rows: int, name: str, line_offset: int = 0, require_rows: bool = True
) -> int:
    """Every row must have the header's field count; polars pads short rows silently.

    `line_offset` numbers lines as in the whole file when `text` is its header and one batch of its
    records (`_read_csv_batches`); such a batch may hold no rows (`require_rows=False`)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise _fail(
            ErrorCode.INVALID_ARGUMENT, f"{name} is empty — attach a file with a header row"
        ) from None
    expected = len(header)
    rows = 0
    try:
        for row in reader:
            if not row:
                continue  # blank lines are skipped by polars too
            rows += 1
            if len(row) != expected:
                raise _fail(
                    ErrorCode.INVALID_ARGUMENT,
                    f"{name} line {reader.line_num + line_offset}: expected {expected} fields, "
                    f"found {len(row)} — "
                    "fix that row (a stray delimiter or an unquoted value?) and attach the file again",
                )
            if rows > max_rows:
                raise _fail(
                    ErrorCode.PAYLOAD_TOO_LARGE,
                    f"{name} has more than {max_rows:,} rows — attach a sample or an aggregate",
                )
    except csv.Error as exc:
        raise _fail(
            ErrorCode.INVALID_ARGUMENT,
            f"{name} line {reader.line_num + line_offset}: {exc} — check the quoting on that line",
        ) from None
    if rows == 0 and require_rows:
        raise _fail(ErrorCode.INVALID_ARGUMENT, _NO_ROWS.format(name=name))
    return rows


_NO_ROWS = "{name} has a header but no data rows — attach data"


def _shape_looks_right(data: bytes, delimiter: str) -> tuple[bool, int]:
    """Vectorised pre-check: does every non-blank line hold the header's number of delimiters?

    Lines with quoted delimiters or quoted newlines fail it harmlessly: then the exact (slow)
    csv-module pass decides. This keeps the common case at polars speed.
    """
    import polars as pl

    lines = pl.read_csv(
        io.BytesIO(data),
        has_header=False,
        separator="\x1f",
        quote_char=None,
        new_columns=["line"],
        schema_overrides={"line": pl.String},
        truncate_ragged_lines=True,
    )["line"].drop_nulls()
    counts = lines.filter(lines.str.strip_chars() != "").str.count_matches(delimiter, literal=True)
    return counts.n_unique() <= 1, max(0, counts.len() - 1)


def _check_csv_caps(
    size: int, lines: Callable[[], int], sample: str, delimiter: str, name: str, settings: AnalysisSettings
) -> None:
    """Header width and line count bound the decoded table before polars allocates a column."""
    header = next(csv.reader(io.StringIO(sample.split("\n", 1)[0]), delimiter=delimiter), [])
    caps.check_columns(len(header), name, settings)
    # Every cell takes at least one byte (its delimiter or newline): a file whose every byte could
    # be a number cell is under the cap without counting its lines.
    if (size + len(header)) * caps.CELL_BYTES > settings.max_decoded_mb * 1024 * 1024:
        caps.check_cells(lines(), len(header), name, settings)


_COMPACT_SHARE = 0.25  # text columns with at most this share of distinct values in the head
_INT32_HEAD = 2**24  # integers this small in the head are read as Int32; a bigger one later re-reads


def _compact(head: pl.DataFrame) -> dict[str, pl.DataType]:
    """Narrower types for the columns of the type-inference head, where they hold the same values.

    A text cell is a 16-byte view; a Categorical one a 4-byte id plus each distinct value once:
    on the 1M-row benchmark file (two 5-value text columns) the table takes 22 MB less. Columns
    whose values look like dates stay text (they become Date below); columns of mostly distinct
    values (ids, free text) too, where one dictionary entry per row would cost more than views.
    Small integers take 4 bytes instead of 8; a value past Int32 further down fails the read, which
    is then done again in the file's types.
    """
    import polars as pl

    out: dict[str, pl.DataType] = {}
    for name, dtype in head.schema.items():
        if dtype == pl.Int64:
            low, high = head.get_column(name).min(), head.get_column(name).max()
            if isinstance(low, int) and isinstance(high, int) and -_INT32_HEAD < low <= high < _INT32_HEAD:
                out[name] = pl.Int32()
            continue
        if dtype != pl.String:
            continue
        column = head.get_column(name).drop_nulls()
        if column.is_empty() or _date_kind(column.head(_DATE_SAMPLE)) is not None:
            continue
        if column.n_unique() <= _COMPACT_SHARE * column.len():
            out[name] = pl.Categorical()
    return out


def _compact_schema(data: bytes, delimiter: str, settings: AnalysisSettings) -> dict[str, pl.DataType]:
    """The file's column types inferred from the type-inference head, narrowed by `_compact`."""
    head = _head_schema(data, delimiter, settings)
    return {**head.schema, **_compact(head)} if head is not None else {}


def _head_schema(data: bytes, delimiter: str, settings: AnalysisSettings) -> pl.DataFrame | None:
    """The type-inference head: the first `infer_rows` records read with full inference.

    Given to the full read, it spares that read its own inference (0.04 s for 10,000 rows), so
    the head costs nothing. A head polars refuses (a quoted newline cut at its end, a bad row)
    gives no schema: the full read infers as usual and reports what is wrong.
    """
    import polars as pl

    end = 0
    for _ in range(settings.infer_rows + 1):
        end = data.find(b"\n", end) + 1
        if not end:
            end = len(data)
            break
    try:
        return pl.read_csv(io.BytesIO(data[:end]), separator=delimiter, infer_schema_length=None)
    except pl.exceptions.PolarsError:
        return None


def _read_csv(
    file: InputFile, settings: AnalysisSettings, compact: bool = False, consume: bool = False
) -> Table:
    """One polars pass; validation reuses what it read instead of a second pass over the text.

    polars raises on rows with too many fields but pads short rows with nulls, and a padded row
    always ends in a null: only when the last column has nulls is the file re-checked (vectorised,
    then the exact csv-module pass that names the line).

    polars' streaming engine reads the 95 MB benchmark file no slower than `read_csv` here
    (0.3-0.4 vs 0.5 s, same peak). `compact` (analyze) decodes repetitive text as Categorical and
    small integers as Int32 (see `_compact`): the table is the peak's part that can shrink, since
    the upload's bytes are alive until it is decoded.
    """
    import polars as pl

    if consume and file.in_pieces and file.size > settings.csv_batch_mb * 2**20:
        table = _read_csv_batches(file, settings, compact)
        if table is not None:
            return table
    data = file.content().removeprefix(codecs.BOM_UTF8)
    try:
        sample = data[:65536].decode("utf-8", errors="strict" if len(data) <= 65536 else "ignore")
    except UnicodeDecodeError as exc:
        raise _not_utf8(file.name, exc.start) from None
    delimiter = _sniff_delimiter(sample)
    _check_csv_caps(len(data), lambda: caps.count_lines(data), sample, delimiter, file.name, settings)
    schema: dict[str, pl.DataType] = {}
    try:
        if compact:
            schema = _compact_schema(data, delimiter, settings)
        try:
            frame = _scan_csv(data, delimiter, settings, schema)
        except pl.exceptions.PolarsError:
            if not schema:
                raise
            schema = {}  # an integer past Int32, or a bad cell: the file's own types say which
            frame = _scan_csv(data, delimiter, settings, schema)
    except pl.exceptions.PolarsError as exc:
        _check_text(data, delimiter, settings, file.name)  # names the line or byte when it can
        raise _fail(
            ErrorCode.INVALID_ARGUMENT,
            f"{file.name} could not be read as CSV: {_first_line(exc)} — check the column named there",
        ) from None
    if frame.height > settings.max_rows:
        raise _fail(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"{file.name} has more than {settings.max_rows:,} rows — attach a sample or an aggregate",
        )
    if frame.height == 0 or _padded(frame):
        uniform, rows = _shape_looks_right(data, delimiter) if data.strip() else (False, 0)
        if not uniform or rows == 0:
            check_csv_shape(data.decode("utf-8", errors="replace"), delimiter, settings.max_rows, file.name)
    return _csv_table(frame, delimiter)


def _padded(frame: pl.DataFrame) -> bool:
    """Could polars have padded a short row? (It always ends in a null.)"""
    return bool(frame.width and frame.get_column(frame.columns[-1]).null_count())


def _csv_table(frame: pl.DataFrame, delimiter: str) -> Table:
    import polars as pl

    names = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
    # CSV inference yields neither Int32 nor Categorical: such columns were narrowed by `_compact`.
    shown = {
        name: "Int64" if kind == pl.Int32 else "String"
        for name, kind in frame.schema.items()
        if kind == pl.Int32 or isinstance(kind, pl.Categorical)
    }
    return Table(_parse_dates(frame), f"csv ({names[delimiter]}-separated)", shown)


def _scan_csv(
    data: bytes, delimiter: str, settings: AnalysisSettings, schema: dict[str, pl.DataType]
) -> pl.DataFrame:
    """The whole file, in `schema`'s types when given (else inferred from the first rows)."""
    import polars as pl

    return (
        pl.scan_csv(
            io.BytesIO(data),
            separator=delimiter,
            schema=schema or None,
            infer_schema_length=settings.infer_rows,
        )
        .head(settings.max_rows + 1)
        .collect(engine="streaming")
    )


def _not_utf8(name: str, byte: int) -> AgentFailure:
    return _fail(
        ErrorCode.UNSUPPORTED_MEDIA, f"{name} is not UTF-8 text (byte {byte}) — save it as UTF-8 CSV"
    )


def _check_text(data: bytes, delimiter: str, settings: AnalysisSettings, name: str) -> None:
    """After polars refused the file: the UTF-8 byte or the CSV line at fault, if that is the cause."""
    _check_batch(data, b"", True, 0, 0, delimiter, settings, name)  # the whole file is its one batch


# --------------------------------------------------------------- a CSV file held in pieces


_QUOTE = 0x22


def _boundary(data: bytes, odd: bool, quotes: int) -> int:
    """The end of the last complete record in `data` (just past a newline), or -1 if none.

    A newline ends a record only outside quotes (RFC 4180): when the count of `"` before it, with the
    carried bytes' (`odd`), is even. An escaped quote ("") counts twice and changes nothing.
    """
    at = data.rfind(b"\n")
    if at < 0:
        return -1
    before = quotes - data.count(b'"', at)
    while (before + odd) & 1:
        earlier = data.rfind(b"\n", 0, at)
        if earlier < 0:
            return -1
        before -= data.count(b'"', earlier, at)
        at = earlier
    return at + 1


def record_batches(pieces: list[bytes], min_bytes: int) -> Iterator[bytes]:
    """Join `pieces` into batches of at least `min_bytes` (but the last) that each end at a record
    boundary. `pieces` is emptied as it goes: a piece is referenced only until it is in a batch."""
    pieces.reverse()
    carry: list[bytes | memoryview] = []
    carried, odd = 0, False
    while pieces:
        piece = pieces.pop()
        # Most CSVs quote nothing: a memchr for `"` (8 ms over 95 MB) spares the count (25 ms).
        quotes = caps.count_byte(piece, _QUOTE) if b'"' in piece else 0
        cut = -1 if carried + len(piece) < min_bytes and pieces else _boundary(piece, odd, quotes)
        if cut < 0:
            carry.append(piece)
            carried += len(piece)
            odd ^= bool(quotes & 1)
            continue
        carry.append(memoryview(piece)[:cut])
        batch = b"".join(carry)
        rest = piece[cut:]
        carry, carried, odd = ([rest] if rest else []), len(rest), bool(rest.count(b'"') & 1)
        del piece
        yield batch
        del batch
    if carry:
        yield b"".join(carry)


def _first_record(data: bytes) -> bytes:
    """The header record (which may hold a quoted newline), with its line end."""
    at, quotes = 0, 0
    while (at := data.find(b"\n", at) + 1) > 0:
        quotes = data.count(b'"', 0, at)
        if not quotes & 1:
            return data[:at]
    return data


def _head(file: InputFile, settings: AnalysisSettings) -> bytes:
    """The pieces that hold the type-inference rows and the 64 KiB the delimiter is sniffed on, joined."""
    taken: list[bytes] = []
    newlines, size = 0, 0
    for piece in file.pieces():
        if newlines > settings.infer_rows and size >= 65536:
            break
        taken.append(piece)
        newlines, size = newlines + piece.count(b"\n"), size + len(piece)
    return b"".join(taken).removeprefix(codecs.BOM_UTF8)


def _read_csv_batches(file: InputFile, settings: AnalysisSettings, compact: bool) -> Table | None:
    """The consuming read of a file held in pieces (`analyze` compact, `chart`/`predict` in the file's
    types): each batch of records is parsed in the schema the whole-file read would use, and its
    bytes are freed once parsed, so the upload and the table it becomes are never both whole in memory.

    None (the caller reads the file whole) when the head gives no schema or the file may hold more
    rows than the cap: there the whole-file read decides, and says what is wrong, as before. Errors
    found in a batch name the line and byte as in the whole file.
    """
    import polars as pl

    name = file.name
    head = _head(file, settings)
    sample = head[:65536].decode("utf-8", errors="ignore")
    delimiter = _sniff_delimiter(sample)
    # Each piece's newlines, counted once: the caps use their sum, and a batch's error finds its
    # line number from them (`_lines_before`) instead of every batch being counted again.
    piece_lines = [caps.count_lines(p) for p in file.pieces()]
    lines = sum(piece_lines)
    _check_csv_caps(file.size, lambda: lines, sample, delimiter, name, settings)
    # Rows ≤ newlines: below the cap no batch can cross it, so no check depends on the whole file.
    if lines > settings.max_rows:
        return None
    inferred = _head_schema(head, delimiter, settings)
    if inferred is None:
        return None
    plain: dict[str, pl.DataType] = dict(inferred.schema)
    schema: dict[str, pl.DataType] = {**plain, **(_compact(inferred) if compact else {})}
    header = _first_record(head)
    del head, inferred

    pieces = file.take_pieces()
    if pieces:
        pieces[0] = pieces[0].removeprefix(codecs.BOM_UTF8)
    ends = list(itertools.accumulate(len(p) for p in pieces))  # where each piece ends in the file
    frames: list[pl.DataFrame] = []
    first, bytes_before = True, 0
    for batch in record_batches(pieces, int(settings.csv_batch_mb * 2**20)):
        try:
            try:
                frame = pl.read_csv(io.BytesIO(batch), separator=delimiter, schema=schema, has_header=first)
            except pl.exceptions.PolarsError:
                if schema == plain:
                    raise
                # An integer past Int32 or a bad cell: like the whole-file read, every column goes
                # back to the file's own types, including those of the batches already parsed.
                schema = plain
                frames = [f.cast(pl.Schema(plain)) for f in frames]
                frame = pl.read_csv(io.BytesIO(batch), separator=delimiter, schema=schema, has_header=first)
        except pl.exceptions.PolarsError as exc:
            lines_before = _lines_before(bytes_before, batch, ends, piece_lines)
            _check_batch(batch, header, first, lines_before, bytes_before, delimiter, settings, name)
            raise _fail(
                ErrorCode.INVALID_ARGUMENT,
                f"{name} could not be read as CSV: {_first_line(exc)} — check the column named there",
            ) from None
        if frame.height and _padded(frame):
            text = batch if first else header + batch
            uniform, rows = _shape_looks_right(text, delimiter)
            if not uniform or rows == 0:
                lines_before = _lines_before(bytes_before, batch, ends, piece_lines)
                _check_batch(batch, header, first, lines_before, bytes_before, delimiter, settings, name)
        frames.append(frame)
        first = False
        bytes_before += len(batch)
        del batch
    frame = pl.concat(frames, rechunk=False) if frames else pl.DataFrame()
    del frames
    if frame.height > settings.max_rows:
        raise _fail(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"{name} has more than {settings.max_rows:,} rows — attach a sample or an aggregate",
        )
    if frame.height == 0:
        raise _fail(ErrorCode.INVALID_ARGUMENT, _NO_ROWS.format(name=name))
    return _csv_table(frame, delimiter)


def _lines_before(offset: int, batch: bytes, ends: list[int], piece_lines: list[int]) -> int:
    """Newlines in the file's first `offset` bytes, where the batch starting there is still held.

    The pieces before it are freed, but their counts are known: whole pieces add theirs, and the
    piece cut at `offset` adds its count less the newlines of its tail, which opens `batch`.
    """
    index = bisect.bisect_right(ends, offset)
    before = sum(piece_lines[:index])
    if index < len(ends) and offset > (ends[index - 1] if index else 0):
        before += piece_lines[index] - batch[: ends[index] - offset].count(b"\n")
    return before


def _check_batch(
    batch: bytes,
    header: bytes,
    first: bool,
    lines_before: int,
    bytes_before: int,
    delimiter: str,
    settings: AnalysisSettings,
    name: str,
) -> None:
    """After polars refused a batch (or the whole file, `first` with no offsets): the UTF-8 byte or
    the CSV line at fault, numbered as in the whole file."""
    try:
        text = batch.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(name, bytes_before + exc.start) from None
    if first:
        check_csv_shape(text, delimiter, settings.max_rows, name)
        return
    # The header goes first so the row width is known; its lines are not the batch's.
    offset = lines_before - header.count(b"\n")
    check_csv_shape(
        header.decode("utf-8", errors="replace") + text, delimiter, settings.max_rows, name, offset, False
    )


_DATE_SAMPLE = 100


def _date_kind(sample: pl.Series) -> str | None:
    """The sample's date parser ("to_date" or "to_datetime") when every value parses, else None."""
    import polars as pl

    for kind in ("to_date", "to_datetime"):
        try:
            getattr(sample.str, kind)(strict=True)
        except (pl.exceptions.PolarsError, ValueError):
            continue
        return kind
    return None


def _parse_dates(frame: pl.DataFrame) -> pl.DataFrame:
    """Text columns that hold dates become Date/Datetime, judged on a sample before the whole column.

    polars' `try_parse_dates` attempts every text column in full (+80 % read time on a 1M-row file
    whose text is city names); a sample that does not parse rules a column out in microseconds.
    """
    import polars as pl

    converted = []
    for name, dtype in frame.schema.items():
        if dtype != pl.String:
            continue
        column = frame.get_column(name)
        sample = column.drop_nulls().head(_DATE_SAMPLE)
        if sample.is_empty():
            continue
        kind = _date_kind(sample)
        if kind is None:
            continue
        try:
            converted.append(getattr(column.str, kind)(strict=True).alias(name))
        except (pl.exceptions.PolarsError, ValueError):
            continue
    return frame.with_columns(converted) if converted else frame


def _read_json(file: InputFile, settings: AnalysisSettings) -> Table:
    try:
        doc = json.loads(file.content())
    except ValueError as exc:
        line = getattr(exc, "lineno", "?")
        raise _fail(
            ErrorCode.INVALID_ARGUMENT,
            f"{file.name} line {line}: invalid JSON ({exc}) — fix it or export the data as CSV",
        ) from None
    if isinstance(doc, dict):
        # {"data": [...]}-style wrappers are common API dumps; a dict of lists is columnar.
        lists = [v for v in doc.values() if isinstance(v, list)]
        if len(doc) == 1 and lists and lists[0] and isinstance(lists[0][0], dict):
            doc = lists[0]
        elif lists and len(lists) == len(doc):
            lengths = {len(v) for v in lists}
            if len(lengths) != 1:
                raise _fail(
                    ErrorCode.INVALID_ARGUMENT,
                    f"{file.name}: the column lists have different "
                    f"lengths {sorted(lengths)} — every column needs one value per row",
                )
            doc = [dict(zip(doc, row, strict=True)) for row in zip(*doc.values(), strict=True)]
        else:
            raise _fail(
                ErrorCode.INVALID_ARGUMENT,
                f"{file.name} is a single JSON object — attach an array "
                'of records like [{"a": 1, "b": 2}, …] or an object of columns',
            )
    if not isinstance(doc, list) or not doc:
        raise _fail(
            ErrorCode.INVALID_ARGUMENT, f"{file.name} has no records — attach a JSON array of objects"
        )
    for index, record in enumerate(doc):
        if not isinstance(record, dict):
            raise _fail(
                ErrorCode.INVALID_ARGUMENT,
                f"{file.name} record {index + 1} is "
                f'{type(record).__name__}, not an object — every record must be {{"column": value}}',
            )
    return Table(_frame_from_records(doc, file.name, settings), "json")


def _frame_from_records(records: list[dict[str, Any]], name: str, settings: AnalysisSettings) -> pl.DataFrame:
    import polars as pl

    if len(records) > settings.max_rows:
        raise _fail(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"{name} has more than {settings.max_rows:,} records — attach a sample or an aggregate",
        )
    # Every distinct key becomes a column of every row: 1M records with one new key each would be
    # a 1M × 1M table. Count keys (C-speed set union) before polars sees them.
    keys: set[str] = set()
    keys.update(*records)
    caps.check_columns(len(keys), name, settings)
    caps.check_cells(len(records), len(keys), name, settings)
    try:
        return pl.from_dicts(records, infer_schema_length=settings.infer_rows)
    except pl.exceptions.PolarsError as exc:
        raise _fail(
            ErrorCode.INVALID_ARGUMENT,
            f"{name}: {_first_line(exc)} — keep each field's type consistent across records",
        ) from None


def _ndjson_records(
    data: bytes, name: str, settings: AnalysisSettings, limit: int | None
) -> list[dict[str, Any]]:
    """The first `limit` records (all if None), each line checked, naming the line at fault."""
    records = []
    for number, line in enumerate(data.decode("utf-8-sig", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise _fail(
                ErrorCode.INVALID_ARGUMENT,
                f"{name} line {number}: invalid JSON ({exc}) — each line must be one JSON object",
            ) from None
        if not isinstance(record, dict):
            raise _fail(
                ErrorCode.INVALID_ARGUMENT,
                f"{name} line {number}: expected a JSON object, found {type(record).__name__}",
            )
        records.append(record)
        if len(records) > settings.max_rows:
            raise _fail(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"{name} has more than {settings.max_rows:,} records — attach a sample or an aggregate",
            )
        if limit is not None and len(records) >= limit:
            break
    if not records:
        raise _fail(ErrorCode.INVALID_ARGUMENT, f"{name} has no records — attach one JSON object per line")
    return records


def _read_ndjson(file: InputFile, settings: AnalysisSettings) -> Table:
    """polars' reader (Rust: 5× faster, a fifth of the memory of Python objects), after the lines
    that decide the columns (the type-inference window) are checked in Python for the column cap.
    A file polars refuses goes through the Python path, which names the line at fault."""
    import polars as pl

    data = file.content().removeprefix(codecs.BOM_UTF8)
    head = _ndjson_records(data, file.name, settings, settings.infer_rows)
    keys: set[str] = set()
    keys.update(*head)
    caps.check_columns(len(keys), file.name, settings)
    caps.check_cells(caps.count_lines(data) + 1, len(keys), file.name, settings)
    try:
        frame = pl.read_ndjson(io.BytesIO(data), infer_schema_length=settings.infer_rows)
    except (pl.exceptions.PolarsError, ValueError):
        records = _ndjson_records(data, file.name, settings, None)
        return Table(_frame_from_records(records, file.name, settings), "ndjson")
    if frame.height > settings.max_rows:
        raise _fail(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"{file.name} has more than {settings.max_rows:,} records — attach a sample or an aggregate",
        )
    return Table(frame, "ndjson")


def _read_parquet(file: InputFile, settings: AnalysisSettings, columns: list[str] | None) -> Table:
    import polars as pl

    data = file.content()
    caps.check_parquet(data, file.name, settings, columns)
    try:
        # Lazy: projection and the row cap reach the Parquet reader, so unused columns are never decoded.
        lazy = pl.scan_parquet(io.BytesIO(data))
        schema = lazy.collect_schema()
        if columns:
            require_columns(columns, list(schema.names()))
            lazy = lazy.select(columns)
        frame = lazy.head(settings.max_rows + 1).collect()
    except pl.exceptions.PolarsError as exc:
        raise _fail(
            ErrorCode.INVALID_ARGUMENT,
            f"{file.name} is not a readable Parquet file: {_first_line(exc)} — re-export it",
        ) from None
    except OSError as exc:
        raise _fail(
            ErrorCode.INVALID_ARGUMENT, f"{file.name} is not a readable Parquet file: {exc} — re-export it"
        ) from None
    if frame.height > settings.max_rows:
        raise _fail(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"{file.name} has more than {settings.max_rows:,} rows — attach a sample or an aggregate",
        )
    return Table(frame, "parquet")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def require_columns(wanted: list[str], available: list[str]) -> None:
    missing = [c for c in wanted if c not in available]
    if missing:
        shown = ", ".join(available[:40]) + (" …" if len(available) > 40 else "")
        raise _fail(
            ErrorCode.INVALID_ARGUMENT,
            f"unknown column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} — available columns: {shown}",
        )


def load_table(
    file: InputFile,
    settings: AnalysisSettings,
    columns: list[str] | None = None,
    *,
    consume: bool = False,
    compact: bool = False,
) -> Table:
    """Blocking (run it in a thread): detect, read, check limits and the optional column filter.

    `consume` empties the file once the table is decoded (a CSV held in pieces, batch by batch as it is
    parsed: `_read_csv_batches`): the upload's bytes (the size of the
    file) are then freed before any statistic runs, so they and the statistics' working memory
    are never alive together. The runtime holds no other copy (`agents.common.app` drops the body).
    `compact` lets the CSV reader hold repetitive text as Categorical (listed in `Table.compact`).
    """
    _check_size(file, settings)
    fmt = detect_format(file)
    if fmt in ("json", "ndjson"):
        caps.check_json(file.content(), file.name, settings)
    if fmt == "parquet":
        table = _read_parquet(file, settings, columns)
    elif fmt == "json":
        table = _read_json(file, settings)
    elif fmt == "ndjson":
        table = _read_ndjson(file, settings)
    else:
        table = _read_csv(file, settings, compact, consume)
    if consume:
        file.release()
    frame = table.frame
    caps.check_columns(frame.width, file.name, settings)
    caps.check_decoded(frame, file.name, settings)
    if frame.height == 0:
        raise _fail(ErrorCode.INVALID_ARGUMENT, f"{file.name} has no data rows — attach a file with data")
    if columns:
        require_columns(columns, frame.columns)
        frame = frame.select(columns)
    return Table(frame, table.format, table.compact)
