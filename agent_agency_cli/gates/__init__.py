"""Quality gates: real tools (ruff, bandit, pytest, timing) judging a step's output."""
