"""One home per unit (agent_agency_cli.units): sizes and durations, parsed one way, formatted one way."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from agent_agency_cli.config import Settings, format_validation_error
from agent_agency_cli.errors import EXIT_BAD_INPUT, BadInputError, PlanError
from agent_agency_cli.gates.spec import GateSpec
from agent_agency_cli.planning.plan_file import parse_plan
from agent_agency_cli.units import (
    MAX_SIZE_MB,
    describe_duration,
    format_duration,
    format_size_mb,
    parse_duration,
    parse_percent,
    parse_size_mb,
)

HUGE = "9" * 400  # a 400-digit number: float() of it is inf


# -- parse_duration -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("90", 90.0),
        (90, 90.0),
        (0, 0.0),
        (2.5, 2.5),
        ("1.5s", 1.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1w", 604800.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("2m30s", 150.0),
        ("1d2h3m4s", 86400 + 7200 + 180 + 4.0),
        ("250ms", 0.25),
        ("1s500ms", 1.5),
        ("  5m  ", 300.0),
        ("5 m", 300.0),
        ("0", 0.0),
    ],
)
def test_parse_duration_accepts(value: object, seconds: float) -> None:
    result = parse_duration(value)
    assert isinstance(result, float)
    assert result == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value",
    ["", "   ", "abc", "-5", "-5s", "5x", "5 minutes", "m5", "1h30", "h", "1e3", "inf", "nan", "5s5", "1,5s"],
)
def test_parse_duration_rejects_bad_text(value: str) -> None:
    with pytest.raises(BadInputError) as info:
        parse_duration(value)
    msg = str(info.value)
    assert repr(value) in msg
    assert "30s, 5m, 2h, 1d" in msg  # tells the user what is accepted


@pytest.mark.parametrize("value", [True, False])
def test_parse_duration_rejects_booleans(value: bool) -> None:
    # YAML `timeout: yes` must not silently become 1 second.
    with pytest.raises(BadInputError, match=repr(value)):
        parse_duration(value)


@pytest.mark.parametrize("value", [-5, -0.5])
def test_parse_duration_rejects_negative_numbers(value: float) -> None:
    with pytest.raises(BadInputError, match="is negative"):
        parse_duration(value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_parse_duration_rejects_non_finite_numbers(value: float) -> None:
    # YAML `.nan` / `.inf` would otherwise slip through every `> 0` check.
    with pytest.raises(BadInputError):
        parse_duration(value)


@pytest.mark.parametrize("value", [None, [5], {"s": 5}, b"5"])
def test_parse_duration_rejects_other_types(value: object) -> None:
    with pytest.raises(BadInputError):
        parse_duration(value)


def test_parse_duration_names_what_was_parsed() -> None:
    with pytest.raises(BadInputError, match=r"^bad timeout: 'soon'"):
        parse_duration("soon", "timeout")


def test_bad_duration_is_bad_input_exit_code() -> None:
    with pytest.raises(BadInputError) as info:
        parse_duration("abc")
    assert info.value.exit_code == EXIT_BAD_INPUT == 2


# -- format_duration ----------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0, "0.0s"),
        (0.4, "0.4s"),
        (9.94, "9.9s"),
        (10, "10s"),
        (41.2, "41s"),
        (59.4, "59s"),
        (60, "1:00"),
        (102, "1:42"),
        (3599, "59:59"),
        (3600, "1:00:00"),
        (3723, "1:02:03"),
        (86399, "23:59:59"),
        (90061, "1d1h"),
        (-102, "1:42"),  # the sign is dropped
    ],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_duration_round_trips_with_parse_for_whole_minutes() -> None:
    assert format_duration(parse_duration("1h30m")) == "1:30:00"
    assert format_duration(parse_duration("5m")) == "5:00"


@pytest.mark.parametrize("value", [HUGE, HUGE + "s", "1" + "0" * 400 + "ms", 10**400, 1e308, "36601d", "1e3"])
def test_parse_duration_bounds_absurd_magnitudes(value: object) -> None:
    with pytest.raises(BadInputError) as info:
        parse_duration(value)
    msg = str(info.value)
    assert msg.startswith("bad duration: ")
    assert len(msg) < 120  # a 400-digit value is shortened, not echoed whole


def test_parse_duration_accepts_up_to_a_century() -> None:
    assert parse_duration("36500d") == 36500 * 86400.0


def test_format_duration_whole_seconds_for_ticking_clocks() -> None:
    assert format_duration(4.4, tenths=False) == "4s"
    assert format_duration(4.4) == "4.4s"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.001, "0.001s"), (0.3, "0.3s"), (1.5, "1.5s"), (10, "10s"), (45.4, "45s"), (59.6, "1m"), (60, "1m"),
     (90, "1m 30s"), (150, "2m 30s"), (300, "5m"), (5400, "1h 30m"), (7200, "2h"), (183600, "2d 3h"),
     (-300, "5m")],
)
def test_describe_duration(seconds: float, text: str) -> None:
    assert describe_duration(seconds) == text


# -- Duration: one pydantic type for the config, plan files and gates -----------------


@pytest.mark.parametrize("value", ["soon", -5, HUGE, math.inf, True])
def test_every_duration_field_rejects_the_same_values(value: Any) -> None:
    with pytest.raises(ValidationError) as config_error:
        Settings.model_validate({"task_execution": {"default_timeout": value}})
    with pytest.raises(PlanError) as plan_error:
        parse_plan({"steps": [{"name": "a", "run": "true", "estimate": value}]})
    with pytest.raises(ValueError):
        GateSpec.model_validate({"type": "code_style", "timeout": value})
    assert "task_execution.default_timeout" in format_validation_error("config c.yaml", config_error.value)
    assert str(plan_error.value).startswith("step 'a': bad 'estimate': ")
    assert "\n" not in str(plan_error.value)


def test_every_duration_field_reads_the_same_units() -> None:
    settings = Settings.model_validate({"task_execution": {"default_timeout": "1h30m"}})
    plan = parse_plan({"steps": [{"name": "a", "run": "true", "estimate": "1h30m"}]})
    gate = GateSpec.model_validate({"type": "code_style", "timeout": "1h30m"})
    assert settings.task_execution.default_timeout == plan.steps[0].estimate == gate.timeout == 5400.0


# -- sizes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "mb"),
    [("512", 512), ("512M", 512), ("512m", 512), ("512MB", 512), ("512MiB", 512), (" 64 Mi ", 64),
     ("2G", 2048), ("2g", 2048), ("2GB", 2048), ("1.5GiB", 1536), ("0.5G", 512), ("1T", 1024 * 1024),
     ("1P", 1024**3), ("2048K", 2), ("1024K", 1), ("512k", 1), ("100k", 1), ("0.5M", 1), ("1048576B", 1),
     (".5G", 512), ("0", 0), (300, 300), (2.5, 3), (0, 0)],
)
def test_parse_size_mb(value: Any, mb: int) -> None:
    assert parse_size_mb(value) == mb


def test_parse_size_mb_passes_none_through() -> None:
    assert parse_size_mb(None) is None


@pytest.mark.parametrize("value", ["", "abc", "M", "12X", "5X", "1.2.3G", "G2", "-", "-1", "-5G", "5i", "G",
                                   "2 GB extra", "1e3", "inf", "nan", True, False, [512], b"512"])
def test_parse_size_mb_rejects_garbage(value: Any) -> None:
    with pytest.raises(BadInputError, match="bad size") as info:
        parse_size_mb(value)
    assert "512M, 2G" in str(info.value)  # says what is accepted
    assert info.value.exit_code == EXIT_BAD_INPUT


@pytest.mark.parametrize("value", [-3, -0.5, -math.inf])
def test_parse_size_mb_rejects_negative_numbers(value: float) -> None:
    with pytest.raises(BadInputError, match="negative"):
        parse_size_mb(value)


@pytest.mark.parametrize("value", [HUGE, HUGE + "M", 10**400, math.inf, 1e300, f"{MAX_SIZE_MB + 1}", "2P"])
def test_parse_size_mb_bounds_absurd_magnitudes(value: Any) -> None:
    with pytest.raises(BadInputError, match="too large") as info:
        parse_size_mb(value)
    assert len(str(info.value)) < 120


def test_parse_size_mb_rejects_nan() -> None:
    with pytest.raises(BadInputError, match="not a number"):
        parse_size_mb(math.nan)


@pytest.mark.parametrize("value", ["0", 0, "0.0M", 0.0])
def test_a_minimum_is_checked_after_rounding(value: Any) -> None:
    with pytest.raises(BadInputError, match="below 1 MiB"):
        parse_size_mb(value, minimum=1)
    assert parse_size_mb("512k", minimum=1) == 1  # 512 KiB rounds up to 1 MiB, it is not "below"


def test_parse_size_mb_names_what_was_parsed() -> None:
    with pytest.raises(BadInputError, match=r"^bad memory size 'lots'"):
        parse_size_mb("lots", "memory size")


def test_one_answer_for_the_limit_and_the_step_resources() -> None:
    # `task modify --max-memory` and a step's `resources.memory` go through the same parser.
    from agent_agency_cli.engine.attempt import step_limits
    from agent_agency_cli.rows import StepSpec
    from agent_agency_cli.workers import needs_for

    plan = parse_plan({"steps": [{"name": "a", "run": "true", "resources": {"memory": "512k"}}]})
    spec = StepSpec.of(plan.steps[0].model_dump(exclude_defaults=True))  # as the engine reads it back
    assert needs_for([], plan.steps[0].resources).memory_mb == 1  # the worker pool
    assert step_limits({}, spec)["max_memory_mb"] == 1  # the RLIMIT_AS of the step
    assert parse_size_mb("512k", minimum=1) == 1  # task create/modify --max-memory


@pytest.mark.parametrize("key", ["memory", "gpu_memory"])
@pytest.mark.parametrize("value", ["lots", HUGE, "1e3", -1])
def test_a_bad_size_in_a_plan_is_one_line_at_parse_time(key: str, value: Any) -> None:
    with pytest.raises(PlanError) as info:
        parse_plan({"steps": [{"name": "a", "run": "true", "resources": {key: value}}]})
    msg = str(info.value)
    assert msg.startswith(f"step 'a': bad 'resources.{key}': ")
    assert "\n" not in msg and len(msg) < 200


def test_a_good_size_in_a_plan_is_kept_as_written() -> None:
    plan = parse_plan({"steps": [{"name": "a", "run": "true", "resources": {"memory": "2G"}}]})
    assert plan.steps[0].resources.memory == "2G"


@pytest.mark.parametrize(("mb", "text"), [(512, "512 MiB"), (1024, "1 GiB"), (1536, "1.5 GiB"),
                                          (1024**2, "1 TiB"), (1024**3, "1 PiB"), (0.5, "0.5 MiB")])
def test_format_size_mb(mb: float, text: str) -> None:
    assert format_size_mb(mb) == text


# -- counts in plans and the config are bounded too -------------------------------------


@pytest.mark.parametrize(("key", "value"), [("cpu", math.inf), ("cpu", math.nan), ("cpu", 10**400), ("gpu", 10**400),
                                            ("open_files", 10**400)])
def test_absurd_step_resources_are_one_plan_error(key: str, value: Any) -> None:
    with pytest.raises(PlanError) as info:
        parse_plan({"steps": [{"name": "a", "run": "true", "resources": {key: value}}]})
    assert str(info.value).startswith(f"step 'a': bad 'resources.{key}': ")


@pytest.mark.parametrize("section", [
    {"task_execution": {"resource_limits": {"max_memory_mb": 10**400}}},
    {"task_execution": {"resource_limits": {"max_cpu_cores": 10**400}}},
    {"workers": [{"id": "w", "resources": {"memory_mb": 10**400}}]},
    {"resource_allocation": {"simple": {"cpu_cores": 1, "memory_mb": 10**400}}},
])
def test_absurd_config_numbers_are_refused(section: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate(section)


# -- percentages -------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "pct"), [("80%", 80.0), (" 2.5% ", 2.5), (95, 95.0), (0, 0.0), ("150%", 150.0)])
def test_parse_percent(value: Any, pct: float) -> None:
    assert parse_percent(value) == pct


@pytest.mark.parametrize("value", ["80", "lots%", "%", True, None, "-5%", -1, math.inf, math.nan, "inf%", 10**400,
                                   HUGE + "%"])
def test_parse_percent_rejects(value: Any) -> None:
    with pytest.raises(BadInputError, match="bad percentage"):
        parse_percent(value)
