"""The spotrun Discord bot: chat commands become jobs dispatched to the Cloud Run agents."""
