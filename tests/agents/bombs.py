"""Resource-bomb helpers: tiny files that decode to gigabytes, and a peak-RSS meter for a process tree."""

from __future__ import annotations

import struct
import subprocess
import threading
import time
import zlib
from pathlib import Path
from types import TracebackType

import psutil

MIB = 2**20


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_bomb(width: int, height: int, color_type: int = 6) -> bytes:
    """A valid PNG of zeros (8-bit; 6 = RGBA, 2 = RGB, 0 = gray), built row by row: never held decoded."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    row = b"\x00" * (1 + width * channels)  # filter byte 0 + pixels
    packer = zlib.compressobj(9)
    rows_per_block = max(1, (8 * MIB) // len(row))  # few big calls: zlib is fast on long runs
    parts = [packer.compress(row * min(rows_per_block, height - y)) for y in range(0, height, rows_per_block)]
    body = b"".join(parts) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def mkv_bomb(path: Path, side: int = 16000, frames: int = 3) -> Path:
    """An MKV whose frames are side×side PNG images of zeros, with a short tone as its audio:
    a few MB that decode to GBs per frame (768 MB at 16000×16000).

    The frames are muxed with `-c copy`, so making the bomb decodes nothing (bounded memory here).
    """
    frame = path.with_suffix(".png")
    frame.write_bytes(png_bomb(side, side, color_type=2))
    argv = ["ffmpeg", "-v", "error", "-y", "-framerate", "1", "-loop", "1", "-t", str(frames)]
    argv += ["-i", str(frame), "-f", "lavfi", "-i", f"sine=frequency=440:duration={frames}"]
    argv += ["-c:v", "copy", "-c:a", "flac", str(path)]
    subprocess.run(argv, check=True, timeout=120)
    frame.unlink()
    return path


class PeakRss:
    """Samples the RSS of a process and its descendants every `interval_s`; `.peak` in bytes.

    Sampling misses spikes shorter than the interval, so it is paired with the kernel's own
    high-water marks: VmHWM of every process seen while it was alive.
    """

    def __init__(self, pid: int, interval_s: float = 0.02) -> None:
        self.root = psutil.Process(pid)
        self.interval_s = interval_s
        self.peak = 0  # largest sum over the tree at one instant
        self.hwm: dict[int, int] = {}  # per process: kernel VmHWM, last seen
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        total = 0
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        for p in procs:
            try:
                total += p.memory_info().rss
                hwm = _vm_hwm(p.pid)
            except (psutil.Error, OSError):
                continue
            self.hwm[p.pid] = max(self.hwm.get(p.pid, 0), hwm)
        self.peak = max(self.peak, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval_s)

    @property
    def largest_process(self) -> int:
        """The largest kernel high-water mark of any one process in the tree."""
        return max(self.hwm.values(), default=0)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def report(self) -> str:
        largest = self.largest_process / MIB
        return f"peak tree RSS {self.peak / MIB:.0f} MiB (largest process VmHWM {largest:.0f} MiB)"


def _vm_hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0
