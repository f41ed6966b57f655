"""Every example in README.md runs as written and prints what the README says it prints.

* ```python blocks are doctests (``>>>`` lines and their expected output): each block runs in a fresh
  namespace, in a temporary working directory. Floats in the expected output match to ±0.01 (absolute) and
  ``...`` matches anything, so a README states scores to two places without pinning round-off.
* ```bash blocks are commands, run one line at a time with ``bash -c`` in a temporary directory; a block
  followed directly by a ```text block must print that text (same rule for floats and ``...``).
  ``pip install`` lines are what CI runs before this test (.ci/run), so they are checked for shape only.
* a block right after ``<!-- readme: dev-only -->`` needs development tools (torch, ONNX Runtime): its
  scripts must exist and compile, nothing more; one after ``<!-- readme: needs-download -->`` needs a Hub
  checkpoint: it must compile and its imports must work.

Like a reader following the README in one directory, all blocks share one working directory, in order.
"""

from __future__ import annotations

import ast
import doctest
import os
import py_compile
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

README = REPO / "README.md"
FENCE = re.compile(r"(?:<!-- readme: (?P<marker>[\w-]+) -->\s*)?```(?P<lang>\w*)\n(?P<body>.*?)```\n"
                   r"(?:\s*```text\n(?P<expected>.*?)```\n)?", re.S)
FLOAT = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?")


def blocks() -> list[dict]:
    text = README.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        out.append({"lang": m["lang"], "body": m["body"], "expected": m["expected"], "marker": m["marker"],
                    "line": line})
    return out


def same_output(expected: str, actual: str) -> bool:
    """``expected`` with its floats as ±0.01 wildcards and ``...`` as anything, against ``actual``."""
    pattern, pos, floats = "", 0, []
    for m in re.finditer(r"\.\.\.|" + FLOAT.pattern, expected):
        pattern += re.escape(expected[pos : m.start()])
        if m.group() == "...":
            pattern += r"[\s\S]*?"
        else:
            pattern += r"(" + FLOAT.pattern + r")"
            floats.append(float(m.group()))
        pos = m.end()
    pattern += re.escape(expected[pos:])
    pattern = re.sub(r"(\\ )+|\\\n", r"\\s+", pattern)  # whitespace runs and line ends compare loosely
    found = re.fullmatch(r"\s*" + pattern + r"\s*", actual)
    return bool(found) and all(abs(float(g) - f) <= 0.01 + 1e-9 for g, f in zip(found.groups(), floats))


class ToleranceChecker(doctest.OutputChecker):
    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        return super().check_output(want, got, optionflags) or same_output(want, got)


BLOCKS = blocks()
PYTHON = [b for b in BLOCKS if b["lang"] == "python" and not b["marker"]]
BASH = [b for b in BLOCKS if b["lang"] == "bash" and not b["marker"]]
DEV = [b for b in BLOCKS if b["marker"] == "dev-only"]
DOWNLOAD = [b for b in BLOCKS if b["marker"] == "needs-download"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("readme")


def test_markers_are_known() -> None:
    assert {b["marker"] for b in BLOCKS} <= {None, "dev-only", "needs-download"}


def test_readme_has_examples() -> None:
    assert len(PYTHON) >= 3 and len(BASH) >= 3, (len(PYTHON), len(BASH))
    assert all(">>>" in b["body"] for b in PYTHON), "every python block is a doctest"


def test_same_output_rule() -> None:
    assert same_output("positive  0.97  好", "positive  0.974  好")
    assert not same_output("positive  0.97  好", "positive  0.95  好")
    assert not same_output("positive", "negative")
    assert same_output("a ... z", "a 1 2 3 z")


@pytest.mark.parametrize("block", PYTHON, ids=lambda b: f"line{b['line']}")
def test_python_block(block: dict, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workdir)
    test = doctest.DocTestParser().get_doctest(block["body"], {}, f"README.md:{block['line']}", str(README),
                                               block["line"])
    runner = doctest.DocTestRunner(checker=ToleranceChecker(),
                                   optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    result = runner.run(test, out=report.append)
    assert result.attempted > 0
    assert result.failed == 0, f"README.md line {block['line']}: {result.failed} example(s) differ:\n" + "".join(report)


def _commands(body: str) -> list[str]:
    lines, current = [], ""
    for raw in body.splitlines():
        line = raw.rstrip()
        if not current and (not line or line.lstrip().startswith("#")):
            continue
        current += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            lines.append(current)
            current = ""
    return lines


@pytest.mark.parametrize("block", BASH, ids=lambda b: f"line{b['line']}")
def test_bash_block(block: dict, workdir: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    printed = []
    for command in _commands(block["body"]):
        if command.startswith("pip install"):
            install = command.split("  #")[0].strip()
            assert re.fullmatch(r'pip install (\.|"\.\[\w+(,\w+)*\]")( && .+)?', install), command
            rest = command.split("&&", 1)[1].split("  #")[0].strip() if "&&" in command else ""
            if not rest or rest.startswith("pytest"):
                continue  # the test command is what is running now
            command = rest
        proc = subprocess.run(["bash", "-c", command], cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, f"README.md line {block['line']}: `{command}` failed:\n{proc.stderr}"
        printed.append(proc.stdout)
    if block["expected"] is not None:
        assert same_output(block["expected"], "".join(printed)), (
            f"README.md line {block['line']}: printed\n{''.join(printed)}\nexpected\n{block['expected']}")


@pytest.mark.parametrize("block", DEV, ids=lambda b: f"line{b['line']}")
def test_dev_block_scripts_exist(block: dict) -> None:
    scripts = [w for command in _commands(block["body"]) for w in shlex.split(command, comments=True)
               if w.endswith((".py", ".txt"))]
    assert scripts, block["body"]
    for script in scripts:
        path = REPO / script
        assert path.is_file(), f"README.md line {block['line']} names {script}, which does not exist"
        if path.suffix == ".py":
            py_compile.compile(str(path), doraise=True)


@pytest.mark.parametrize("block", DOWNLOAD, ids=lambda b: f"line{b['line']}")
def test_download_block_compiles_and_imports(block: dict) -> None:
    tree = ast.parse(block["body"], f"README.md:{block['line']}")
    imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert imports, block["body"]
    exec(compile(ast.Module(body=imports, type_ignores=[]), "README.md", "exec"), {})
