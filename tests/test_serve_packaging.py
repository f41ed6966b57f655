"""The serve extra stays optional: the core package and the command line import none of uvicorn, Starlette
or an HTTP client; ``roformer-np serve`` without the extra says how to install it; the subpackage imports
only what the extra declares. Runs without the extra installed.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import roformer_np

REPO = Path(__file__).resolve().parents[1]
SERVE = REPO / "roformer_np" / "serve"
WEB = ["uvicorn", "starlette", "httpx", "anyio", "h11", "fastapi"]


def loaded_after(code: str, block_extra: bool = False) -> tuple[list[str], subprocess.CompletedProcess]:
    """The modules of WEB a fresh interpreter has loaded after ``code`` (optionally with the extra made
    unimportable, as on a machine without it)."""
    package_root = str(Path(roformer_np.__file__).resolve().parents[1])
    blocker = ("import sys, importlib.abc\n"
               "class Block(importlib.abc.MetaPathFinder):\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               f"        if name.split('.')[0] in {WEB!r}:\n"
               "            raise ImportError(f'No module named {name!r}', name=name)\n"
               "sys.meta_path.insert(0, Block())\n") if block_extra else ""
    probe = (f"{blocker}{code}\nimport json, sys\n"
             f"print('LOADED', json.dumps(sorted(m for m in {WEB!r} if m in sys.modules)))")
    env = {**os.environ, "PYTHONPATH": package_root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120,
                          cwd=package_root)
    line = [x for x in done.stdout.splitlines() if x.startswith("LOADED ")]
    return (json.loads(line[-1][len("LOADED "):]) if line else None), done


def test_the_core_package_imports_no_web_module():
    loaded, done = loaded_after("import roformer_np\nfrom roformer_np import pipeline\n"
                                "pipeline('text-classification')('这本书很好看')\nimport roformer_np.serve")
    assert done.returncode == 0, done.stderr
    assert loaded == []


def test_the_command_line_imports_no_web_module():
    code = ("from roformer_np.cli import build_parser, main\n"
            "build_parser().parse_args(['serve', '--task', 'fill-mask'])\n"
            "assert main(['classify', '-q', '这本书很好看']) == 0\n"
            "assert main(['info']) == 0")
    loaded, done = loaded_after(code)
    assert done.returncode == 0, done.stderr
    assert loaded == []


def test_serve_without_the_extra_says_how_to_install_it():
    code = "from roformer_np.cli import main\nprint('STATUS', main(['serve', '--task', 'fill-mask', '--port', '0']))"
    loaded, done = loaded_after(code, block_extra=True)
    assert "STATUS 2" in done.stdout, done.stdout + done.stderr
    assert 'pip install "roformer_np[serve]"' in done.stderr and "roformer-np: error:" in done.stderr
    assert "http://" not in done.stdout  # nothing listened
    assert loaded == []


def test_serve_help_lists_the_options_without_the_extra():
    loaded, done = loaded_after("from roformer_np.cli import main\ntry:\n    main(['serve', '--help'])\n"
                                "except SystemExit as exit:\n    assert exit.code == 0", block_extra=True)
    for option in ("--task", "--max-batch-tokens", "--max-batch-requests", "--max-client-batch-size",
                   "--max-input-length", "--max-concurrent-requests", "--payload-limit", "--api-key",
                   "--length-grouping", "--graceful-timeout", "127.0.0.1"):
        assert option in done.stdout, option
    assert loaded == []


def test_the_subpackage_imports_only_the_standard_library_numpy_and_the_declared_extra():
    declared = re.search(r'^serve = \[(.*)\]$', (REPO / "pyproject.toml").read_text(encoding="utf-8"), re.M)
    assert declared, "pyproject.toml has no serve extra"
    extra = {re.match(r'"([A-Za-z0-9_.-]+)', item.strip())[1].lower() for item in declared[1].split(",")}
    assert extra == {"uvicorn", "starlette", "httptools", "uvloop"}
    stdlib = set(sys.stdlib_module_names) if hasattr(sys, "stdlib_module_names") else None
    found = set()
    for path in SERVE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                found.add(node.module.split(".")[0])
    third_party = {m for m in found if stdlib is None or m not in stdlib}
    assert third_party <= extra | {"numpy"}, third_party
    # and the modules a subcommand's parser needs import nothing of the extra at their top level
    for name in ("__init__.py", "cli.py", "settings.py"):
        tree = ast.parse((SERVE / name).read_text(encoding="utf-8"))
        top = {a.name.split(".")[0] for n in tree.body if isinstance(n, ast.Import) for a in n.names}
        top |= {n.module.split(".")[0] for n in tree.body if isinstance(n, ast.ImportFrom) and n.level == 0}
        assert not top & extra, (name, top)


def test_server_kernel_threads_leave_the_event_loop_a_core(monkeypatch):
    import argparse

    from roformer_np.serve import cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    for cpus, expected in ((1, 1), (2, 1), (8, 7)):
        monkeypatch.setattr(cli.os, "sched_getaffinity", lambda pid, n=cpus: set(range(n)), raising=False)
        assert cli.default_threads() == expected
        assert cli.settings_from(parser.parse_args(["--task", "text-classification"])).threads == expected
    explicit = cli.settings_from(parser.parse_args(["--task", "text-classification", "--threads", "2"]))
    assert explicit.threads == 2  # an explicit --threads is kept as given
