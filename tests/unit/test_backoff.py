"""retry_delay: exponential / linear / fixed backoff, the cap, jitter bounds, never negative."""

from __future__ import annotations

import random

import pytest

from agent_agency_cli.backoff import retry_delay


def delays(backoff: str, n: int, initial: float = 1.0, max: float = 1000.0) -> list[float]:
    return [retry_delay(a, backoff=backoff, initial=initial, max=max, jitter=0) for a in range(1, n + 1)]


def test_exponential_doubles_from_initial() -> None:
    assert delays("exponential", 6, initial=0.5) == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]


def test_linear_grows_by_initial() -> None:
    assert delays("linear", 5, initial=1.5) == [1.5, 3.0, 4.5, 6.0, 7.5]


def test_fixed_is_constant() -> None:
    assert delays("fixed", 4, initial=2.0) == [2.0, 2.0, 2.0, 2.0]


@pytest.mark.parametrize("backoff", ["exponential", "linear", "fixed"])
def test_attempt_one_is_initial(backoff: str) -> None:
    assert retry_delay(1, backoff=backoff, initial=3.0, max=60, jitter=0) == 3.0


def test_cap_applies_to_every_strategy() -> None:
    assert delays("exponential", 8, initial=1, max=10) == [1, 2, 4, 8, 10, 10, 10, 10]
    assert delays("linear", 5, initial=4, max=10) == [4, 8, 10, 10, 10]
    assert delays("fixed", 2, initial=30, max=10) == [10, 10]


def test_huge_attempt_does_not_overflow() -> None:
    assert retry_delay(10_000, backoff="exponential", initial=1, max=60, jitter=0) == 60.0


def test_jitter_stays_within_bounds_and_spreads() -> None:
    rng = random.Random(1234)
    draws = [retry_delay(3, backoff="exponential", initial=1, max=60, jitter=0.25, rng=rng) for _ in range(4000)]
    assert all(3.0 <= d <= 5.0 for d in draws)  # 4s +-25%
    # uniform: both halves of the range are used and the spread reaches near both ends
    assert min(draws) < 3.1 and max(draws) > 4.9
    below = sum(d < 4.0 for d in draws)
    assert 1700 < below < 2300
    assert abs(sum(draws) / len(draws) - 4.0) < 0.05


def test_jitter_applies_after_the_cap() -> None:
    rng = random.Random(7)
    draws = [retry_delay(20, backoff="exponential", initial=1, max=10, jitter=0.1, rng=rng) for _ in range(2000)]
    assert all(9.0 <= d <= 11.0 for d in draws)
    assert max(draws) > 10.5  # jitter moves around the capped value, both ways
    assert min(draws) < 9.5


def test_full_jitter_never_negative() -> None:
    rng = random.Random(99)
    draws = [retry_delay(1, backoff="fixed", initial=1, max=10, jitter=1.0, rng=rng) for _ in range(2000)]
    assert all(0.0 <= d <= 2.0 for d in draws)
    assert min(draws) < 0.05


def test_zero_initial_is_zero() -> None:
    assert retry_delay(5, backoff="exponential", initial=0, max=10, jitter=0.5) == 0.0


@pytest.mark.parametrize("backoff", ["exponential", "linear", "fixed"])
def test_never_negative_even_for_a_negative_initial(backoff: str) -> None:
    rng = random.Random(3)
    assert all(
        retry_delay(a, backoff=backoff, initial=-2, max=10, jitter=0.5, rng=rng) == 0.0 for a in range(1, 6)
    )


def test_same_seed_same_delays() -> None:
    a = [retry_delay(2, backoff="linear", initial=1, max=9, jitter=0.3, rng=random.Random(5)) for _ in range(3)]
    assert a[0] == a[1] == a[2] != 2.0


@pytest.mark.parametrize("attempt", [0, -1])
def test_attempt_below_one_is_rejected(attempt: int) -> None:
    with pytest.raises(ValueError, match="attempt"):
        retry_delay(attempt, backoff="fixed", initial=1, max=10, jitter=0)


def test_unknown_backoff_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown backoff 'quadratic'"):
        retry_delay(1, backoff="quadratic", initial=1, max=10, jitter=0)
