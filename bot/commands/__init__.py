"""Command text and slash options -> validated protocol arguments, and the help text."""
