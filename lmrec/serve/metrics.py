"""Prometheus text-format metrics, hand-written (no dependency): request counts by route/method/status, latency
histograms by route, and the gauges the state reports (model version, items, events ingested)."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable

BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    """Counters and latency histograms, updated once per request by the ASGI middleware."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._buckets: dict[str, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self._sums: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(method, route, status)] += 1
            self._buckets[route][bisect.bisect_left(BUCKETS, seconds)] += 1
            self._sums[route] += seconds
            self._counts[route] += 1

    def render(self, gauges: Iterable[tuple[str, str, dict[str, str], float]]) -> str:
        """The exposition text; `gauges` adds (name, help, labels, value) lines from the state."""
        lines = ["# HELP lmrec_requests_total HTTP requests by method, route template and status.",
                 "# TYPE lmrec_requests_total counter"]
        with self._lock:
            requests = sorted(self._requests.items())
            routes = sorted(self._counts)
            buckets = {r: list(self._buckets[r]) for r in routes}
            sums, counts = dict(self._sums), dict(self._counts)
        for (method, route, status), value in requests:
            lines.append(f"lmrec_requests_total{_labels(method=method, route=route, status=str(status))} {value}")
        lines += ["# HELP lmrec_request_duration_seconds Request latency by route template.",
                  "# TYPE lmrec_request_duration_seconds histogram"]
        for route in routes:
            running = 0
            for bound, count in zip([*BUCKETS, float("inf")], buckets[route], strict=True):
                running += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f"lmrec_request_duration_seconds_bucket{_labels(route=route, le=le)} {running}")
            lines.append(f"lmrec_request_duration_seconds_sum{_labels(route=route)} {sums[route]:.6f}")
            lines.append(f"lmrec_request_duration_seconds_count{_labels(route=route)} {counts[route]}")
        seen: set[str] = set()
        for name, help_text, labels, value in gauges:
            if name not in seen:
                kind = "counter" if name.endswith("_total") else "gauge"
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
                seen.add(name)
            lines.append(f"{name}{_labels(**labels)} {value:g}")
        return "\n".join(lines) + "\n"


def _labels(**labels: str) -> str:
    if not labels:
        return ""
    escape: Callable[[str], str] = lambda v: v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")  # noqa: E731
    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels.items()) + "}"
