"""Property-based tests (hypothesis) over plans and CLI arguments (issue 12, item 10).

Thousands of generated inputs: each is either accepted, or refused with one AgencyError
(one line, exit 2 at the CLI) and nothing stored; what is accepted never makes a later
`task list` / `task status` fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# The strategies and checks live in fuzz_cases.py, imported inside each test: importing
# hypothesis here would cost every xdist worker ~0.5 s at collection.


def test_any_plan_parses_or_is_refused_with_one_line() -> None:
    from tests.property.fuzz_cases import check_plans_parse_or_are_refused_with_one_line

    check_plans_parse_or_are_refused_with_one_line()


@pytest.fixture(scope="module")
def fuzz_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def test_a_submitted_plan_is_stored_whole_or_not_at_all(fuzz_home: Path) -> None:
    from tests.property.fuzz_cases import check_submitted_plans_are_stored_whole_or_not_at_all

    check_submitted_plans_are_stored_whole_or_not_at_all(fuzz_home)


def test_create_options_give_exit_0_or_one_line_and_exit_2(fuzz_home: Path) -> None:
    from tests.property.fuzz_cases import check_create_options_give_exit_0_or_one_line_and_exit_2

    check_create_options_give_exit_0_or_one_line_and_exit_2(fuzz_home)
