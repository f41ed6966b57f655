"""Shared by the server, Ray and Dask tests: a per-test time limit (SIGALRM), the review texts they run on, and
the import of an optional extra (a skip, or with ROFORMER_NP_REQUIRE_EXTRAS=1, as in CI's extras leg, a failure)."""

from __future__ import annotations

import importlib
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import pytest
from conftest import REPO

REQUIRED = os.environ.get("ROFORMER_NP_REQUIRE_EXTRAS") == "1"


def extra_module(name: str, extra: str) -> ModuleType:
    """``name`` imported; missing, the calling test module is skipped (``pip install ".[extra]"`` brings it),
    unless CI requires the extras, where a missing one must fail rather than pass unseen."""
    if REQUIRED:
        return importlib.import_module(name)
    return pytest.importorskip(name, reason=f'needs {name}: pip install ".[{extra}]"')


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Raise TimeoutError in the test if it runs longer than ``seconds`` (a cluster that hangs cannot stall CI)."""
    def expire(signum, frame):
        raise TimeoutError(f"the test ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def reviews() -> list[str]:
    """The hand-written review texts of tools/data/clear_reviews.tsv (third column)."""
    lines = (REPO / "tools" / "data" / "clear_reviews.tsv").read_text(encoding="utf-8").splitlines()
    return [line.split("\t")[2] for line in lines if not line.startswith("#")]
