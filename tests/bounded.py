"""Shared by the Ray and Dask tests: a per-test time limit (SIGALRM) and the review texts they run on."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

from conftest import REPO


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
