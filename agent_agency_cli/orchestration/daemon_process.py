"""The daemon process as `task create` spawns it: the engine (engine/daemon.py) plus the
submit socket (orchestration/submit_server.py), which serves the facade and so lives a
layer above the engine. `python -m agent_agency_cli.orchestration.daemon_process --home DIR`."""

from __future__ import annotations

from agent_agency_cli.engine.daemon import run_process
from agent_agency_cli.orchestration import submit_server

if __name__ == "__main__":
    run_process(services=[submit_server.start])
