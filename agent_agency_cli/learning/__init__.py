"""Learning from runs: a record per finished step, aggregates that travel between machines."""
