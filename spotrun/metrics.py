"""Shared metric conventions: histogram buckets that resolve jobs from 50 ms to 10 min."""

from __future__ import annotations

# Seconds. Dense at the fast end (cached scrapes, tts), still informative at Cloud Run's
# long tail (analysis of big files, transcription up to the 600 s timeout).
JOB_BUCKETS: tuple[float, ...] = (
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    20.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
)
