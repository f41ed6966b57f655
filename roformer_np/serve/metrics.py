"""Prometheus metrics in the text exposition format (version 0.0.4), written by hand: counters, gauges and
histograms with labels, safe to update from the event loop and the batcher's thread.

The names are text-embeddings-inference's (``te_request_count``, ``te_request_duration``, ``te_queue_size``,
``te_batch_next_size`` …), so dashboards made for TEI read this server too.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: tuple[str, ...], values: tuple[str, ...], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(x: float) -> str:
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return repr(float(x)) if not float(x).is_integer() else str(int(x))


class _Metric:
    kind = ""

    def __init__(self, name: str, help: str, labels: tuple[str, ...] = ()) -> None:
        self.name, self.help, self.label_names = name, help, labels
        self._lock = threading.Lock()

    def _key(self, labels: dict[str, str]) -> tuple[str, ...]:
        if set(labels) != set(self.label_names):
            raise ValueError(f"{self.name} takes the labels {self.label_names}, got {sorted(labels)}")
        return tuple(str(labels[n]) for n in self.label_names)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help: str, labels: tuple[str, ...] = ()) -> None:
        super().__init__(name, help, labels)
        self._values: dict[tuple[str, ...], float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def total(self, exclude: dict[str, tuple[str, ...]] | None = None) -> float:
        """The sum over every label set, leaving out those with a label value in ``exclude[label]``."""
        skip = [(self.label_names.index(n), values) for n, values in (exclude or {}).items()]
        with self._lock:
            return sum(v for k, v in self._values.items() if not any(k[i] in values for i, values in skip))

    def value(self, **labels: str) -> float:
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        lines = [f"{self.name}{_labels(self.label_names, k)} {_number(v)}" for k, v in items]
        return lines or ([f"{self.name} 0"] if not self.label_names else [])


class Gauge(Counter):
    kind = "gauge"

    def set(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)



class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name: str, help: str, buckets: Iterable[float], labels: tuple[str, ...] = ()) -> None:
        super().__init__(name, help, labels)
        self.buckets = tuple(sorted(buckets))
        self._series: dict[tuple[str, ...], list] = {}  # key -> [counts per bucket + the +Inf one, sum]

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            series = self._series.setdefault(key, [[0] * (len(self.buckets) + 1), 0.0])
            series[0][bisect.bisect_left(self.buckets, value)] += 1
            series[1] += value

    def count(self, **labels: str) -> int:
        with self._lock:
            series = self._series.get(self._key(labels))
            return sum(series[0]) if series else 0

    def lines(self) -> list[str]:
        out = []
        with self._lock:
            items = sorted((k, (list(v[0]), v[1])) for k, v in self._series.items())
        for key, (counts, total) in items:
            running = 0
            for bound, n in zip((*self.buckets, math.inf), counts):
                running += n
                le = 'le="' + _number(bound) + '"'
                out.append(f"{self.name}_bucket{_labels(self.label_names, key, le)} {running}")
            out.append(f"{self.name}_sum{_labels(self.label_names, key)} {_number(total)}")
            out.append(f"{self.name}_count{_labels(self.label_names, key)} {running}")
        return out


class Metrics:
    """The server's metrics; :meth:`render` gives the exposition text."""

    def __init__(self) -> None:
        self.request_count = Counter("te_request_count", "Requests received", ("method", "route"))
        self.request_success = Counter("te_request_success", "Requests answered with 2xx", ("method", "route"))
        self.request_failure = Counter("te_request_failure", "Requests answered with an error", ("err", "route"))
        self.request_duration = Histogram("te_request_duration", "Request time in seconds (until the answer is "
                                          "ready)", DURATION_BUCKETS, ("route",))
        self.queue_duration = Histogram("te_request_queue_duration", "Seconds a request's rows waited in the queue "
                                        "for their first forward pass", DURATION_BUCKETS)
        self.inference_duration = Histogram("te_request_inference_duration", "Seconds from a request's first "
                                            "forward pass to its result", DURATION_BUCKETS)
        self.input_length = Histogram("te_request_input_length", "Tokens per request", SIZE_BUCKETS)
        self.batch_size = Histogram("te_batch_next_size", "Rows per forward pass", SIZE_BUCKETS)
        self.batch_tokens = Histogram("te_batch_next_tokens", "Tokens per forward pass (padding included, if any)",
                                      SIZE_BUCKETS)
        self.batch_duration = Histogram("te_batch_inference_duration", "Seconds per forward pass", DURATION_BUCKETS)
        self.batch_failures = Counter("te_batch_failure", "Forward passes that raised (their rows are retried "
                                      "one by one)")
        self.queue_size = Gauge("te_queue_size", "Rows waiting for a forward pass")
        self.in_flight = Gauge("te_requests_in_flight", "Requests admitted and not yet answered")

    def all(self) -> list[_Metric]:
        return [v for v in vars(self).values() if isinstance(v, _Metric)]

    def render(self) -> str:
        lines: list[str] = []
        for metric in self.all():
            lines += metric.header() + metric.lines()
        return "\n".join(lines) + "\n"
