"""Step executors: how one attempt of one step runs (shell command, Python callable)."""
