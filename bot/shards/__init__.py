"""Shards across bot processes: preferred shards, leases in the store, IDENTIFY pacing, hand-over."""
