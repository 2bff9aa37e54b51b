"""What the frequent commands import, and the lazy pieces that keep it small."""

from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys

from agent_agency_cli.security.rules import RULES, SECRET_RULES, LazyPattern


def _run(code: str) -> dict:
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_the_rule_table_compiles_nothing_at_import():
    got = _run("import json, re\n"
               "seen = []\n"
               "orig = re.compile\n"
               "def recording(pattern, *a, **k):\n"
               "    seen.append(pattern)\n"
               "    return orig(pattern, *a, **k)\n"
               "re.compile = recording\n"
               "import agent_agency_cli.security.rules as r\n"
               "table = {rule.pattern.pattern for rule in r.RULES}\n"
               "at_import = len(table & set(seen))\n"
               "r.RULES[0].pattern.search('x')\n"
               "r.RULES[0].pattern.search('y')\n"
               "print(json.dumps({'at_import': at_import, 'after_use': len(table & set(seen)),\n"
               "                  'compiled_first': seen.count(r.RULES[0].pattern.pattern), 'rules': len(table)}))")
    assert got["rules"] > 50
    assert got["at_import"] == 0
    assert got["after_use"] == 1 and got["compiled_first"] == 1


def test_a_lazy_pattern_acts_as_the_compiled_one():
    for rule in SECRET_RULES[:5]:
        assert isinstance(rule.pattern, LazyPattern)
        real = re.compile(rule.pattern.pattern, rule.pattern.flags)
        assert rule.pattern.groupindex == real.groupindex
    lazy = LazyPattern(r"(?P<s>AKIA[0-9A-Z]{16})", re.I)
    text = "key akia" + "A" * 16 + " end"
    assert [m.span("s") for m in lazy.finditer(text)] == [(4, 24)]
    assert lazy.search("nothing") is None
    assert lazy == LazyPattern(r"(?P<s>AKIA[0-9A-Z]{16})", re.I) and hash(lazy) == hash(LazyPattern(lazy.pattern, re.I))
    assert lazy != LazyPattern(lazy.pattern, 0)
    # rules copy and pickle (Ray ships them to nodes), compiled or not
    for rule in (RULES[0], RULES[-1]):
        rule.pattern.search("rm -rf /")
        assert pickle.loads(pickle.dumps(rule)) == rule
    assert pickle.loads(pickle.dumps(LazyPattern("a+"))).search("caab").group() == "aa"


def test_config_and_units_do_not_build_pydantic_validators_at_import():
    got = _run("import json, sys\n"
               "import agent_agency_cli.units\n"
               "units_loads_pydantic = 'pydantic' in sys.modules\n"
               "from agent_agency_cli.config import Settings, load_settings\n"
               "built_at_import = Settings.__pydantic_complete__\n"
               "s = load_settings(None)\n"
               "print(json.dumps({'units': units_loads_pydantic, 'built': built_at_import,\n"
               "                  'mode': s.task_execution.default_mode.value,\n"
               "                  'retries': s.recovery.retries.attempts}))")
    assert got == {"units": False, "built": False, "mode": "auto", "retries": got["retries"]}
    assert isinstance(got["retries"], int)
