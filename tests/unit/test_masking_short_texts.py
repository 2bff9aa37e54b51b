"""The masking precheck: a text shorter than any secret shape (step names, ids, statuses) is
not scanned, and the boundary is exact, so no secret slips through."""

from __future__ import annotations

from agent_agency_cli.security import masking
from agent_agency_cli.security.masking import Masker, mask_secrets


def test_the_precheck_length_is_the_rules_shortest_match():
    # the URL-password rule is the shortest: "a://" + user + ":" + 3 characters + "@". A rule
    # that can match fewer characters must lower masking._MIN_SHAPE, or short secrets slip through.
    assert masking._min_shape_length() == masking._MIN_SHAPE == 10


def test_a_secret_of_exactly_the_shortest_shape_is_still_masked():
    text = "a://u:pwd@"
    assert len(text) == masking._MIN_SHAPE
    assert mask_secrets(text) != text
    assert "pwd" not in mask_secrets(text)


def test_short_texts_come_back_unchanged_without_a_scan(monkeypatch):
    def no_scan(text: str) -> list:
        raise AssertionError(f"scanned {text!r}")

    monkeypatch.setattr(masking, "secret_spans", no_scan)
    masking._mask_short.cache_clear()
    for text in ("s31", "running", "benchsteps"[:9], ""):
        assert mask_secrets(text) == text


def test_a_task_literal_shorter_than_any_shape_is_still_masked():
    masker = Masker(env={"DB_PASSWORD": "hunter"})  # 6 characters: a literal, no shape
    assert masker("hunter") == "h****"
    assert masker("pw hunter") == "pw h****"
    assert masker("s31") == "s31"
