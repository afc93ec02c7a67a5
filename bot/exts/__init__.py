"""discord.py extensions: one cog per feature, loaded by SpotrunBot.setup_hook."""
