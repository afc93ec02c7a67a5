"""Page monitors: each check is an ordinary job, submitted by a supervised scheduler."""
