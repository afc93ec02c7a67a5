"""Frontends: what the user sees of a job — its result rendered to Discord's limits (render), the words
for its failures (messages), and where its progress and result are shown (Discord or the local console)."""
