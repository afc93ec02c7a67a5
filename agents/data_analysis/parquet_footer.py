"""Reads a Parquet file's footer (rows, row groups, column chunks) without decoding any data page.

polars exposes no row-group metadata and pyarrow would add ~100 MB to the image for one lookup, so
this is a bounded reader of the Thrift compact protocol the footer is written in: it knows the few
fields the size estimate needs and skips the rest. Every count it reads is checked against the bytes
left before it is trusted, and nesting is capped, so a hostile footer costs at most its own length.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

_MAGIC = b"PAR1"
_MAX_NESTING = 32  # Parquet's own footer nests 5 deep; anything deeper is not a Parquet writer
# Parquet physical types → bytes per value once decoded (BYTE_ARRAY: a 16-byte view + its data).
_WIDTH = {0: 1, 1: 4, 2: 8, 3: 12, 4: 4, 5: 8, 6: 16}
_BYTE_ARRAY, _FIXED = 6, 7


class FooterError(ValueError):
    """The footer is damaged, truncated or not Parquet."""


@dataclass(frozen=True)
class Chunk:
    column: str  # top-level column name (first element of path_in_schema)
    physical_type: int
    num_values: int
    uncompressed: int


@dataclass(frozen=True)
class Footer:
    num_rows: int
    row_groups: int
    columns: list[str]  # top-level names, in schema order
    chunks: list[Chunk] = field(default_factory=list)
    fixed_widths: dict[str, int] = field(default_factory=dict)  # FIXED_LEN_BYTE_ARRAY leaf widths

    def decoded_bytes(self, columns: list[str] | None = None) -> int:
        """Memory the chosen columns take once decoded: fixed-width values by count, byte arrays
        by view plus data. Writers' own `total_byte_size` is not used: RLE/dictionary pages report
        their encoded size, which is how a 400 KB file claims little and decodes to gigabytes."""
        wanted = set(columns) if columns else None
        total = 0
        for chunk in self.chunks:
            if wanted is not None and chunk.column not in wanted:
                continue
            if chunk.physical_type == _BYTE_ARRAY:
                total += chunk.num_values * _WIDTH[_BYTE_ARRAY] + chunk.uncompressed
            elif chunk.physical_type == _FIXED:
                total += chunk.num_values * max(16, self.fixed_widths.get(chunk.column, 16))
            else:
                total += chunk.num_values * _WIDTH.get(chunk.physical_type, 16)
        return total


class _Reader:
    """Thrift compact protocol, just enough of it: structs become {field id: value}."""

    def __init__(self, data: bytes, max_items: int) -> None:
        self.data = data
        self.pos = 0
        self.items_left = max_items  # list elements across the whole footer

    def _byte(self) -> int:
        if self.pos >= len(self.data):
            raise FooterError("footer ends early")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def _varint(self) -> int:
        shift = result = 0
        while True:
            byte = self._byte()
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise FooterError("varint longer than 64 bits")

    def _zigzag(self) -> int:
        n = self._varint()
        return (n >> 1) ^ -(n & 1)

    def _take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise FooterError("field runs past the footer")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def value(self, kind: int, depth: int) -> Any:
        if kind in (1, 2):  # booleans inside a struct carry their value in the type
            return kind == 1
        if kind == 3:
            return self._take(1)[0]
        if kind in (4, 5, 6):
            return self._zigzag()
        if kind == 7:
            return struct.unpack("<d", self._take(8))[0]
        if kind == 8:
            return self._take(self._varint())
        if kind in (9, 10):
            return self._list(depth + 1)
        if kind == 11:
            return self._map(depth + 1)
        if kind == 12:
            return self.struct(depth + 1)
        raise FooterError(f"unknown field type {kind}")

    def _count(self, size: int) -> None:
        # Every element takes at least one byte: a larger count is a lie, refused before looping.
        if size > len(self.data) - self.pos:
            raise FooterError("list longer than the footer")
        self.items_left -= size
        if self.items_left < 0:
            raise FooterError("footer has too many entries")

    def _list(self, depth: int) -> list[Any]:
        if depth > _MAX_NESTING:
            raise FooterError("footer nested too deep")
        header = self._byte()
        size = header >> 4
        if size == 15:
            size = self._varint()
        kind = header & 0x0F
        self._count(size)
        if kind in (1, 2):  # booleans in a list are one byte each
            return [self._byte() == 1 for _ in range(size)]
        return [self.value(kind, depth) for _ in range(size)]

    def _map(self, depth: int) -> dict[Any, Any]:
        if depth > _MAX_NESTING:
            raise FooterError("footer nested too deep")
        size = self._varint()
        if not size:
            return {}
        kinds = self._byte()
        self._count(2 * size)
        return {self.value(kinds >> 4, depth): self.value(kinds & 0x0F, depth) for _ in range(size)}

    def struct(self, depth: int = 0) -> dict[int, Any]:
        if depth > _MAX_NESTING:
            raise FooterError("footer nested too deep")
        fields: dict[int, Any] = {}
        last = 0
        while True:
            header = self._byte()
            if header == 0:
                return fields
            delta, kind = header >> 4, header & 0x0F
            last = last + delta if delta else self._zigzag()
            fields[last] = self.value(kind, depth)


def read_footer(data: bytes, max_footer_bytes: int, max_items: int) -> Footer:
    """The footer of an in-memory Parquet file; FooterError if it is damaged or over the caps."""
    if len(data) < 12 or data[:4] != _MAGIC or data[-4:] != _MAGIC:
        raise FooterError("missing the PAR1 markers at the start and end")
    length = int.from_bytes(data[-8:-4], "little")
    if length <= 0 or length > len(data) - 12:
        raise FooterError("footer length points outside the file")
    if length > max_footer_bytes:
        raise FooterError(f"footer is {length:,} bytes (limit {max_footer_bytes:,})")
    meta = _Reader(data[-8 - length : -8], max_items).struct()
    try:
        schema: list[dict[int, Any]] = meta[2]
        num_rows = int(meta[3])
        groups: list[dict[int, Any]] = meta.get(4, [])
    except (KeyError, TypeError) as exc:
        raise FooterError(f"footer lacks field {exc}") from None
    columns, fixed = _top_level(schema)
    chunks = []
    for group in groups:
        for column in group.get(1, []):
            info = column.get(3) if isinstance(column, dict) else None
            if not isinstance(info, dict):
                raise FooterError("a column chunk has no metadata")
            path = info.get(3) or [b""]
            chunks.append(
                Chunk(
                    column=bytes(path[0]).decode("utf-8", "replace"),
                    physical_type=int(info.get(1, 6)),
                    num_values=max(0, int(info.get(5, 0))),
                    uncompressed=max(0, int(info.get(6, 0))),
                )
            )
    return Footer(num_rows, len(groups), columns, chunks, fixed)


def _top_level(schema: list[dict[int, Any]]) -> tuple[list[str], dict[str, int]]:
    """Top-level column names (the root's children) and the widest fixed-length leaf under each."""
    if not schema or not isinstance(schema[0], dict):
        raise FooterError("footer has no schema")
    names: list[str] = []
    fixed: dict[str, int] = {}
    # Walk the flattened tree: each element says how many children follow it.
    pending = [int(schema[0].get(5, 0))]
    top = ""
    for element in schema[1:]:
        if not pending:
            break
        if len(pending) == 1:
            top = bytes(element.get(4, b"")).decode("utf-8", "replace")
            names.append(top)
        pending[-1] -= 1
        children = int(element.get(5, 0) or 0)
        if element.get(1) == _FIXED:
            fixed[top] = max(fixed.get(top, 0), int(element.get(2, 0) or 0))
        while pending and pending[-1] == 0 and not children:
            pending.pop()
        if children:
            pending.append(children)
    return names, fixed
