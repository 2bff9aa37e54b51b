"""The background daemon: one per data home (an flock), started detached,
stopped with SIGTERM. `python -m agent_agency_cli.engine.daemon --home DIR`."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agent_agency_cli import procgroup
from agent_agency_cli.errors import AgencyError, DaemonError
from agent_agency_cli.paths import HomePaths, data_home, open_private, write_private

# The daemon as spawned: this engine plus the services of the layers above it (the submit
# socket); `python -m agent_agency_cli.engine.daemon` is the engine alone.
DAEMON_MODULE = "agent_agency_cli.orchestration.daemon_process"
# Started once the engine is up, each given the home's paths; returns its stop function.
Service = Callable[[HomePaths], Callable[[], None]]


def read_info(paths: HomePaths) -> dict[str, Any] | None:
    """The running daemon's info (pid, identity, started_at, log), or None if none runs."""
    from agent_agency_cli.procgroup import identity_alive  # no psutil: `task resume` asks this

    try:
        info = json.loads(paths.daemon_info.read_text())
    except (OSError, ValueError):
        return None
    return info if identity_alive(info.get("identity")) else None


# How long a starting daemon may take to say it is up: imports, then crash recovery of a dead
# engine's tasks (a scan of the processes) come first; on a loaded machine that took over 10 s.
START_WAIT = 30.0


def spawn(paths: HomePaths, config: str | None = None, wait: float = START_WAIT) -> dict[str, Any]:
    """Start a detached daemon (no-op if one runs) and wait until it is up."""
    info = read_info(paths)
    if info:
        return info
    cmd = [sys.executable, "-m", DAEMON_MODULE, "--home", str(paths.home)]
    if config:
        cmd += ["--config", str(Path(config).resolve())]
    try:
        logf = open_private(paths.daemon_log, "ab")
    except OSError as exc:  # ELOOP: a symlink planted in its place
        raise DaemonError(f"cannot open the daemon log {paths.daemon_log}: {exc.strerror} "
                          "(remove it; the log is never written through a symbolic link)") from None
    with logf:
        # Its own session: a Ctrl-C or hang-up of the terminal that started it does not reach it.
        proc = procgroup.spawn(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        info = read_info(paths)
        if info:
            return info
        rc = proc.poll()
        if rc is not None and rc != 0:
            raise DaemonError(f"the daemon exited at start (code {rc}); see {paths.daemon_log}")
        if rc == 0:
            # It found another daemon holding the lock; that one will answer soon.
            proc = _Done()
        time.sleep(0.02)
    raise DaemonError(f"the daemon did not come up within {wait:g}s; see {paths.daemon_log}")


class _Done:
    def poll(self) -> None:
        return None


def stop(paths: HomePaths, timeout: float = 60.0) -> dict[str, Any] | None:
    """SIGTERM the daemon and wait for it to exit. Returns its info, None if none ran."""
    info = read_info(paths)
    if not info:
        return None
    try:
        os.kill(info["pid"], signal.SIGTERM)
    except ProcessLookupError:
        return info
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if read_info(paths) is None:
            return info
        time.sleep(0.05)
    raise DaemonError(f"daemon {info['pid']} did not stop within {timeout:g}s")


def _mask_secrets_filter(vault: Any) -> Any:
    """A logging filter that masks every record with the secrets of the tasks the engine has
    seen. Built in the daemon process only: clients of this module (`task resume`, `task
    create` checking for a daemon) do not import logging."""
    import logging  # lazy: keeps start-up light

    class MaskSecrets(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.msg = vault.redact_any(record.getMessage())
            record.args = None
            if record.exc_info:
                record.exc_text = vault.redact_any(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
            return True

    return MaskSecrets()


def main(argv: list[str] | None = None, services: Sequence[Service] = ()) -> int:
    """Daemon process entry point; `services` run beside the engine while it serves."""
    import argparse  # here: `task resume` and `task create` import this module to spawn a daemon
    import logging  # lazy: keeps start-up light

    parser = argparse.ArgumentParser(prog="agent-agency-cli-daemon")
    parser.add_argument("--home", required=True)
    parser.add_argument("--config")
    args = parser.parse_args(argv)
    paths = HomePaths(data_home(args.home))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    log = logging.getLogger("agent_agency_cli.daemon")
    lock = open_private(paths.daemon_lock, "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log.info("another daemon already runs for %s; exiting", paths.home)
        return 0
    import anyio  # lazy: keeps start-up light

    from agent_agency_cli.config import load_settings  # lazy: keeps start-up light
    from agent_agency_cli.engine.engine import Engine  # lazy: keeps start-up light
    from agent_agency_cli.engine.process import engine_identity  # lazy: keeps start-up light

    try:
        settings = load_settings(args.config, home=paths.home)
    except Exception as exc:
        log.error("%s", exc)
        return 2
    from agent_agency_cli.backends import backend_info  # lazy: keeps start-up light

    try:
        engine = Engine(paths.home, settings)  # with the ray backend: connects to the cluster
        execution = backend_info(settings, start=True)
    except AgencyError as exc:
        log.error("%s", exc)
        return exc.exit_code
    for handler in logging.getLogger().handlers:  # daemon.log holds no secret either
        handler.addFilter(_mask_secrets_filter(engine.store.vault))
    from agent_agency_cli.engine.escapees import become_subreaper  # lazy: keeps start-up light

    # Processes that leave a step's group are re-parented here, so step ends find them.
    become_subreaper()
    info = {
        "pid": os.getpid(),
        "identity": engine_identity(),
        "started_at": time.time(),
        "home": str(paths.home),
        "log": str(paths.daemon_log),
        "config": args.config,
        "execution": execution,  # which backend runs and the cluster's size at start
    }
    stops = [service(paths) for service in services]  # up before daemon.json says we are
    write_private(paths.daemon_info, json.dumps(info))
    log.info("daemon %s started for %s", info["pid"], paths.home)
    try:
        anyio.run(engine.serve)
    finally:
        for stop_service in stops:
            stop_service()  # no new requests; those in flight finish first
        from agent_agency_cli.notify import wait_pending  # lazy: keeps start-up light

        wait_pending(5.0)  # let notifications already on their way finish
        try:
            if json.loads(paths.daemon_info.read_text()).get("pid") == os.getpid():
                paths.daemon_info.unlink()
        except (OSError, ValueError):
            pass
        log.info("daemon %s stopped", os.getpid())
    if not engine.stopping and engine.store.has_claimable_task():
        # An idle exit raced a submit (the socket's, or a local one that saw us alive): the
        # task must not wait for the next command to start a daemon. Hand over to a new one.
        lock.close()
        try:
            spawn(paths, args.config)
        except DaemonError as exc:
            log.error("could not start a successor for the queued tasks: %s", exc)
    return 0


def run_process(services: Sequence[Service] = ()) -> None:
    """`python -m` entry: run the daemon, then exit at once (see below)."""
    import logging  # lazy: keeps start-up light

    code = main(services=services)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # Exit now: idle worker threads (abandoned Python steps, anyio's thread pool)
    # would otherwise keep the process alive for tens of seconds after its work is done.
    os._exit(code)


if __name__ == "__main__":
    run_process()
