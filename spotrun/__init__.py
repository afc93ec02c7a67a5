"""spotrun: a Discord bot on GKE Spot that dispatches chat commands to Cloud Run agents."""

__version__ = "0.1.0"
