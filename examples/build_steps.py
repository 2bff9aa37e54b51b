"""Python steps used by examples/build-and-test.yaml."""

from pathlib import Path

SERVICE = '''"""A tiny service: greets and adds."""


def greet(name: str) -> str:
    return f"hello, {name}"


def add(a: int, b: int) -> int:
    return a + b
'''

TESTS = '''import unittest

from service.core import add, greet


class CoreTest(unittest.TestCase):
    def test_greet(self):
        self.assertEqual(greet("ana"), "hello, ana")

    def test_add(self):
        self.assertEqual(add(2, 3), 5)
'''


def checkout(ctx):
    """Write the project into the workspace (the step's working directory)."""
    root = Path(ctx.workdir)
    files = {
        "service/__init__.py": "",
        "service/core.py": SERVICE,
        "tests/__init__.py": "",
        "tests/test_core.py": TESTS,
    }
    for i, (rel, text) in enumerate(files.items(), start=1):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        ctx.progress(i / len(files), f"wrote {rel}")
    ctx.log.info("checked out %d files", len(files))
    return {"files": len(files)}
