"""Frontends: where a job's progress and result are shown (Discord or the local console)."""
