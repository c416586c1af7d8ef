import math


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[k]


def latency_summary(seconds: list[float]) -> dict[str, float | None]:
    """p50/p95/p99/max in milliseconds."""
    out: dict[str, float | None] = {}
    for name, p in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100)):
        value = percentile(seconds, p)
        out[name] = round(value * 1000, 2) if value is not None else None
    return out
