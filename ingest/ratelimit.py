"""Requests per minute per ingest key, counted in this worker process.

Counting in the process costs nothing per request (no cache or database
round trip on the hot path); the price is that a deployment with N worker
processes admits up to N times the limit. The limit is a guard against a
runaway gateway, not a quota, so that is the right trade.
"""

import time

WINDOW_S = 60
#: Forget old windows once this many keys were seen, so that random keys
#: cannot grow the table without bound.
_MAX_KEYS = 10_000

_windows: dict[str, tuple[int, int]] = {}


def retry_after(key: str, limit: int, now: float | None = None) -> int | None:
    """Count a request of ``key``; seconds to wait if it is over ``limit``
    (requests per minute; 0 is no limit), else ``None``."""
    if limit <= 0:
        return None
    now = time.time() if now is None else now
    window = int(now // WINDOW_S)
    start, count = _windows.get(key, (window, 0))
    if start != window:
        start, count = window, 0
    if count >= limit:
        return max(1, int((window + 1) * WINDOW_S - now))
    if len(_windows) >= _MAX_KEYS and key not in _windows:
        _forget_old(window)
    _windows[key] = (start, count + 1)
    return None


def _forget_old(window: int) -> None:
    for key in [k for k, (start, _) in _windows.items() if start != window]:
        del _windows[key]
    if len(_windows) >= _MAX_KEYS:
        # Flooded with keys within one minute: keep the busiest tenth, so that
        # a stream of made-up keys cannot reset a real key's count.
        busiest = sorted(_windows.items(), key=lambda entry: entry[1][1], reverse=True)[: _MAX_KEYS // 10]
        _windows.clear()
        _windows.update(busiest)


def reset() -> None:
    _windows.clear()
