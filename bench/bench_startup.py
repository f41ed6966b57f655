"""Start-up time: ``import roformer_np`` and the README's quick start, each in a fresh process.

    python bench/bench_startup.py [--runs 7] [--no-warm-up]

Each command runs ``--runs`` times after one warm-up run (so the page cache and the ``.pyc`` files are warm,
as on a user's second call); the table shows the fastest and the median wall time and the median CPU time
(user + system) of the process. CPU time hardly changes when other work shares the cores; wall time does,
so compare wall times on an idle machine. The quick start uses the ``roformer-np`` console script beside
this Python when it is installed, and ``python -m roformer_np`` in any case. Targets: import <= 0.3 s, quick
start <= 0.6 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

QUICK_START = ["fill-mask", "酒店的服务很[MASK]。"]  # the README's Quick start


def commands() -> list[tuple[str, list[str]]]:
    python = sys.executable
    rows = [
        ("python -c pass (the interpreter alone)", [python, "-c", "pass"]),
        ("import roformer_np", [python, "-c", "import roformer_np"]),
        ("from roformer_np import RoFormerModel, pipeline",
         [python, "-c", "from roformer_np import RoFormerModel, pipeline"]),
    ]
    script = shutil.which("roformer-np", path=str(Path(python).parent)) or shutil.which("roformer-np")
    if script:
        rows.append(("roformer-np " + " ".join(QUICK_START), [script, *QUICK_START]))
    rows.append(("python -m roformer_np " + " ".join(QUICK_START), [python, "-m", "roformer_np", *QUICK_START]))
    return rows


def run_once(argv: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of ``argv``; fails loudly if the command fails."""
    before = os.times()
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = os.times()
    if done.returncode != 0:
        raise SystemExit(f"{argv} failed ({done.returncode}): {done.stderr.strip()}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-warm-up", action="store_true", help="also time the first (cold) run")
    args = parser.parse_args()
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the warm-up writes the .pyc files, as a user's first run does
    os.chdir(Path(__file__).resolve().parent)  # python -m imports the installed roformer_np, not ./roformer_np
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.2f}, {args.runs} runs each")
    print(f"{'command':<56} {'min wall':>9} {'median':>9} {'CPU':>9}")
    for label, argv in commands():
        if not args.no_warm_up:
            run_once(argv, env)
        times = [run_once(argv, env) for _ in range(args.runs)]
        walls, cpus = [w for w, _ in times], [c for _, c in times]
        print(f"{label:<56} {min(walls):>8.3f}s {statistics.median(walls):>8.3f}s "
              f"{statistics.median(cpus):>8.3f}s")


if __name__ == "__main__":
    main()
