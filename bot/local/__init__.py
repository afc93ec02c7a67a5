"""Local mode (`spotrun dev`): the agents as local processes, and the console in place of Discord."""
