"""The bot process: its startup, the job pipeline it owns, its life on a Spot node, ops server, metrics."""
