"""Scanner recall and precision over a corpus of real-world commands (tests/data/scanner_corpus.txt).

A command counts as flagged when the scanner reports a command finding of medium
severity or worse (low findings are warnings a task runs with). Goal (issue 12): at
least 95% of the risky commands flagged, at most 2% of the harmless ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_agency_cli.models import Level
from agent_agency_cli.security.rules import Category
from agent_agency_cli.security.scanner import scan_text

CORPUS = Path(__file__).resolve().parents[1] / "data" / "scanner_corpus.txt"


def _corpus() -> list[tuple[str, str]]:
    rows = []
    for raw in CORPUS.read_text().splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        label, command = raw.split("\t", 1)
        rows.append((label, command.replace("\\n", "\n")))
    return rows


def flagged(command: str) -> bool:
    return any(f.category is not Category.SECRET and f.severity.rank >= Level.MEDIUM.rank
               for f in scan_text(command, "corpus"))


def test_corpus_is_large_enough_and_labelled():
    rows = _corpus()
    assert {label for label, _ in rows} == {"risky", "harmless"}
    assert sum(label == "risky" for label, _ in rows) >= 100
    assert sum(label == "harmless" for label, _ in rows) >= 100
    assert len({c for _, c in rows}) == len(rows), "a command is listed twice"


def test_recall_and_false_positive_rate(capsys: pytest.CaptureFixture[str]):
    rows = _corpus()
    risky = [c for label, c in rows if label == "risky"]
    harmless = [c for label, c in rows if label == "harmless"]
    missed = [c for c in risky if not flagged(c)]
    false_alarms = [c for c in harmless if flagged(c)]
    recall = 1 - len(missed) / len(risky)
    fp_rate = len(false_alarms) / len(harmless)
    true_pos = len(risky) - len(missed)
    precision = true_pos / (true_pos + len(false_alarms))
    with capsys.disabled():
        print(f"\nscanner corpus: {len(risky)} risky, {len(harmless)} harmless; recall {recall:.1%}, "
              f"harmless flagged {fp_rate:.1%}, precision {precision:.1%}")
        for c in missed:
            print(f"  missed: {c!r}")
        for c in false_alarms:
            print(f"  false alarm: {c!r}")
    assert recall >= 0.95, f"risky commands missed: {missed}"
    assert fp_rate <= 0.02, f"harmless commands flagged: {false_alarms}"
