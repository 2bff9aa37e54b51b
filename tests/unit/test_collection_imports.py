"""Collecting the suite stays cheap: every xdist worker collects every test module, so a
heavy optional package imported at module level (or by an auto-loaded pytest plugin) costs
each worker its import time before its first test. Tests import these inside themselves."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

# Packages that cost a worker 0.2-1 s each to import; none is needed to collect a test.
HEAVY = ("ray", "hypothesis", "schemathesis", "fastapi", "starlette", "uvicorn", "mcp", "openai", "playwright",
         "pynvml")


def test_collecting_the_suite_imports_no_heavy_optional_package():
    code = ("import json, sys, pytest\n"
            "rc = pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider', 'tests'])\n"
            f"heavy = {HEAVY!r}\n"
            "print(json.dumps({'rc': int(rc), 'heavy': sorted({m.split('.')[0] for m in sys.modules\n"
            "                                                  if m.split('.')[0] in heavy})}))\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got == {"rc": 0, "heavy": []}, got
