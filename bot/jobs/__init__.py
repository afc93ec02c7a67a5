"""Jobs: the persisted store, the fair scheduler and the runner that executes one job."""
