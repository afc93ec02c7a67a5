"""Billing: the cost model of one job and the ledger of month-to-date spend, free tier and budgets.

The `!cost` and `/cost` commands that show it are a cog like every other, in bot/exts/cost.py.
"""
