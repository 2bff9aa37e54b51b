"""YAML config -> Settings (agent_agency_cli.config.load_settings)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agent_agency_cli.config import Settings, load_settings
from agent_agency_cli.errors import EXIT_BAD_INPUT, BadInputError, ConfigError
from agent_agency_cli.models import ExecutionMode

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = ROOT / "config.example.yaml"

WriteFile = Callable[[str, str], Path]


def _error(path: object = None, home: Path | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path, home=home)  # type: ignore[arg-type]
    return str(info.value)


# -- defaults ---------------------------------------------------------------------


def test_no_file_gives_defaults(isolated_home: Path) -> None:
    s = load_settings(None, home=isolated_home)
    assert s == Settings()
    te = s.task_execution
    assert te.default_mode is ExecutionMode.AUTO
    assert te.max_concurrent_tasks == 10
    assert te.max_parallel_steps == 8
    assert te.default_timeout == 7200.0
    assert te.cancel_grace_period == 5.0
    assert te.monitoring.alert_thresholds.memory_warning == 80.0
    assert s.recovery.rerun_interrupted == "idempotent"
    assert s.daemon.poll_interval == 0.05
    assert s.workers == []


def test_no_home_and_no_env_gives_defaults() -> None:
    assert load_settings() == Settings()


def test_empty_file_gives_defaults(write_file: WriteFile) -> None:
    assert load_settings(write_file("c.yaml", "")) == Settings()
    assert load_settings(write_file("comments.yaml", "# nothing here\n")) == Settings()


# -- a valid file -----------------------------------------------------------------


def test_valid_file_is_loaded(write_file: WriteFile) -> None:
    path = write_file(
        "config.yaml",
        """
        task_execution:
          default_mode: strict
          max_concurrent_tasks: 3
          default_timeout: 90m
          cancel_grace_period: 250ms
          resource_limits:
            max_memory_mb: 2048
          monitoring:
            metrics_retention: 2d
            alert_thresholds:
              memory_warning: 90%
              error_rate_warning: 2.5
        recovery:
          rerun_interrupted: never
        daemon:
          poll_interval: 100ms
          idle_exit: 10m
        workers:
          - id: w1
            capabilities: [gpu, python]
            resources: {cpu_cores: 8, memory_mb: 32768, gpu_memory_mb: 16384}
            models: [m1]
        """,
    )
    s = load_settings(path)
    te = s.task_execution
    assert te.default_mode is ExecutionMode.STRICT
    assert te.max_concurrent_tasks == 3
    assert te.default_timeout == 5400.0
    assert te.cancel_grace_period == pytest.approx(0.25)
    assert te.resource_limits.max_memory_mb == 2048
    assert te.resource_limits.max_cpu_cores == 16  # untouched sibling keeps its default
    assert te.monitoring.metrics_retention == 2 * 86400.0
    assert te.monitoring.alert_thresholds.memory_warning == 90.0
    assert te.monitoring.alert_thresholds.error_rate_warning == 2.5
    assert te.max_parallel_steps == 8
    assert s.recovery.rerun_interrupted == "never"
    assert s.daemon.poll_interval == pytest.approx(0.1)
    assert s.daemon.idle_exit == 600.0
    assert len(s.workers) == 1
    w = s.workers[0]
    assert (w.id, w.capabilities, w.models) == ("w1", ["gpu", "python"], ["m1"])
    assert w.resources.gpu_memory_mb == 16384



@pytest.mark.parametrize(("yaml_text", "key"), [
    ("task_execution:\n  monitoring:\n    progress_interval: 10s\n", "progress_interval"),
    ("resource_allocation:\n  simple: {cpu_cores: 1, memory_mb: 1024, storage_gb: 10}\n", "storage_gb"),
    ("resource_allocation:\n  simple: {cpu_cores: 1, memory_mb: 1024, network_bandwidth_mbps: 10}\n",
     "network_bandwidth_mbps"),
    ("workers:\n  - id: w\n    resources: {storage_gb: 10}\n", "storage_gb"),
])
def test_keys_nothing_reads_are_not_accepted(write_file: WriteFile, yaml_text: str, key: str) -> None:
    # A key the tool would silently ignore is an error naming it, not a false promise.
    msg = _error(write_file("c.yaml", yaml_text))
    assert key in msg


def test_dry_run_mode_is_accepted(write_file: WriteFile) -> None:
    path = write_file("c.yaml", "task_execution: {default_mode: dry-run}\n")
    assert load_settings(path).task_execution.default_mode is ExecutionMode.DRY_RUN


def test_settings_are_frozen(write_file: WriteFile) -> None:
    s = load_settings(write_file("c.yaml", "task_execution: {max_concurrent_tasks: 2}\n"))
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError
        s.task_execution.max_concurrent_tasks = 5  # type: ignore[misc]
    assert s.task_execution.max_concurrent_tasks == 2


# -- errors name their dotted path -------------------------------------------------


def test_unknown_nested_key_names_its_path(write_file: WriteFile) -> None:
    path = write_file("c.yaml", "task_execution:\n  foo: 1\n")
    msg = _error(path)
    assert "unknown key task_execution.foo" in msg
    assert str(path) in msg


def test_unknown_top_level_key(write_file: WriteFile) -> None:
    msg = _error(write_file("c.yaml", "task_exec:\n  max_concurrent_tasks: 1\n"))
    assert "unknown key task_exec" in msg


def test_unknown_deeply_nested_key(write_file: WriteFile) -> None:
    path = write_file("c.yaml", "task_execution:\n  monitoring:\n    alert_thresholds:\n      disk_warning: 1\n")
    assert "unknown key task_execution.monitoring.alert_thresholds.disk_warning" in _error(path)


def test_unknown_key_in_a_worker_names_its_index(write_file: WriteFile) -> None:
    path = write_file("c.yaml", "workers:\n  - id: w1\n  - id: w2\n    gpus: 2\n")
    assert "unknown key workers.1.gpus" in _error(path)


def test_wrong_type_names_path_and_value(write_file: WriteFile) -> None:
    msg = _error(write_file("c.yaml", "task_execution:\n  max_concurrent_tasks: many\n"))
    assert "task_execution.max_concurrent_tasks" in msg
    assert 'expected a whole number, got "many"' in msg


def test_out_of_range_value_names_path(write_file: WriteFile) -> None:
    msg = _error(write_file("c.yaml", "task_execution:\n  max_parallel_steps: 0\n"))
    assert "task_execution.max_parallel_steps" in msg
    assert "greater than or equal to 1" in msg


def test_bad_mode_names_path(write_file: WriteFile) -> None:
    msg = _error(write_file("c.yaml", "task_execution:\n  default_mode: yolo\n"))
    assert "task_execution.default_mode" in msg
    assert "expected one of 'auto', 'strict' or 'dry-run', got \"yolo\"" in msg


def test_bad_recovery_choice(write_file: WriteFile) -> None:
    msg = _error(write_file("c.yaml", "recovery:\n  rerun_interrupted: sometimes\n"))
    assert "recovery.rerun_interrupted" in msg
    assert "expected one of 'idempotent', 'always' or 'never', got \"sometimes\"" in msg


def test_missing_worker_id(write_file: WriteFile) -> None:
    msg = _error(write_file("c.yaml", "workers:\n  - capabilities: [cpu]\n"))
    assert "workers.0.id" in msg


@pytest.mark.parametrize("value", ["soon", "5x", "true", "1h30"])
def test_bad_duration_names_path(write_file: WriteFile, value: str) -> None:
    msg = _error(write_file("c.yaml", f"task_execution:\n  default_timeout: {value}\n"))
    assert "task_execution.default_timeout" in msg
    assert "bad duration" in msg
    assert "30s, 5m" in msg  # the accepted forms


def test_negative_duration_names_path(write_file: WriteFile) -> None:
    msg = _error(write_file("c.yaml", "daemon:\n  stop_timeout: -5\n"))
    assert "daemon.stop_timeout" in msg
    assert "negative" in msg


def test_bad_percentage_names_path(write_file: WriteFile) -> None:
    path = write_file("c.yaml", "task_execution:\n  monitoring:\n    alert_thresholds:\n      memory_warning: lots\n")
    msg = _error(path)
    assert "task_execution.monitoring.alert_thresholds.memory_warning" in msg
    assert "bad percentage" in msg


def test_several_problems_are_counted(write_file: WriteFile) -> None:
    path = write_file("c.yaml", "task_execution:\n  foo: 1\n  bar: 2\n  baz: 3\n")
    msg = _error(path)
    assert "unknown key task_execution." in msg
    assert "(and 2 more problems)" in msg


def test_invalid_yaml_gives_line_and_column(write_file: WriteFile) -> None:
    path = write_file(
        "c.yaml",
        """\
        task_execution:
          max_concurrent_tasks: 2
          default_mode: [auto
        daemon: {}
        """,
    )
    msg = _error(path)
    assert "invalid YAML" in msg
    assert str(path) in msg
    assert "line 4" in msg
    assert "column" in msg


def test_tab_indentation_is_invalid_yaml_with_position(write_file: WriteFile) -> None:
    path = write_file("c.yaml", "task_execution:\n\tmax_concurrent_tasks: 2\n")
    msg = _error(path)
    assert "invalid YAML at line 2, column 1" in msg


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    msg = _error(path)
    assert "not found" in msg
    assert str(path) in msg


def test_missing_file_given_explicitly_does_not_blame_the_env_var(tmp_path: Path) -> None:
    # `--config nope.yaml` arrives as a str; the hint about the env var would mislead.
    msg = _error(str(tmp_path / "nope.yaml"))
    assert "not found" in msg
    assert "AGENT_AGENCY_CONFIG" not in msg


def test_directory_is_not_a_config_file(tmp_path: Path) -> None:
    assert "not found" in _error(tmp_path)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n"])
def test_top_level_must_be_a_mapping(write_file: WriteFile, text: str) -> None:
    assert "top level must be a mapping" in _error(write_file("c.yaml", text))


def test_config_error_is_bad_input() -> None:
    err = ConfigError("x")
    assert isinstance(err, BadInputError)
    assert err.exit_code == EXIT_BAD_INPUT


# -- where the file comes from ---------------------------------------------------------


def test_env_var_points_at_config(write_file: WriteFile, monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> None:
    path = write_file("env.yaml", "task_execution: {max_concurrent_tasks: 7}\n")
    monkeypatch.setenv("AGENT_AGENCY_CONFIG", str(path))
    assert load_settings().task_execution.max_concurrent_tasks == 7
    assert load_settings(home=isolated_home).task_execution.max_concurrent_tasks == 7


def test_env_var_to_missing_file_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_AGENCY_CONFIG", str(tmp_path / "gone.yaml"))
    msg = _error()
    assert "gone.yaml not found" in msg
    assert "$AGENT_AGENCY_CONFIG" in msg


def test_empty_env_var_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_AGENCY_CONFIG", "")
    assert load_settings() == Settings()


def test_config_yaml_in_home_is_used(isolated_home: Path) -> None:
    (isolated_home / "config.yaml").write_text("task_execution: {max_parallel_steps: 3}\n")
    assert load_settings(home=isolated_home).task_execution.max_parallel_steps == 3


def test_bad_config_yaml_in_home_is_reported(isolated_home: Path) -> None:
    (isolated_home / "config.yaml").write_text("task_execution: {foo: 1}\n")
    msg = _error(home=isolated_home)
    assert "unknown key task_execution.foo" in msg
    assert str(isolated_home / "config.yaml") in msg


def test_env_var_wins_over_home_config(
    write_file: WriteFile, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    (isolated_home / "config.yaml").write_text("task_execution: {max_parallel_steps: 3}\n")
    path = write_file("env.yaml", "task_execution: {max_parallel_steps: 5}\n")
    monkeypatch.setenv("AGENT_AGENCY_CONFIG", str(path))
    assert load_settings(home=isolated_home).task_execution.max_parallel_steps == 5


def test_explicit_path_wins_over_env_and_home(
    write_file: WriteFile, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    (isolated_home / "config.yaml").write_text("task_execution: {max_parallel_steps: 3}\n")
    monkeypatch.setenv("AGENT_AGENCY_CONFIG", str(write_file("env.yaml", "daemon: {}\n")))
    path = write_file("explicit.yaml", "task_execution: {max_parallel_steps: 4}\n")
    assert load_settings(path, home=isolated_home).task_execution.max_parallel_steps == 4
    assert load_settings(str(path), home=isolated_home).task_execution.max_parallel_steps == 4


# -- the shipped example ----------------------------------------------------------------


def test_example_config_loads() -> None:
    s = load_settings(EXAMPLE_CONFIG)
    assert isinstance(s, Settings)
    # The example says its values are the defaults; keep the two in step.
    assert s == Settings()
