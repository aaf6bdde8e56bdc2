"""Promotion rules: which checkpoints are flagged as broken, and when a checkpoint may become `best`.

A flagged checkpoint is still published (its files may help to debug the run) but is never made `best`.
`best` moves only when FD improves by more than the noise both measurements carry at their N, and only
between figures of the same extractor and reference.
"""

from __future__ import annotations

from typing import Any

COLLAPSED_COVERAGE = 0.05  # share of real neighbourhoods reached; a healthy model is near 1
CLASS_KL_JUMP = 0.25  # nats above the previous version's; log(10) = 2.3 is a single class


def flags(metrics: dict[str, Any], previous: dict[str, Any] | None) -> list[str]:
    """Reasons this checkpoint's samples look broken: NaN, constant, or collapsed."""
    found = []
    if metrics.get("nan"):
        found.append("samples hold NaN or infinity")
    if metrics.get("constant"):
        found.append("every sample is the same image")
    coverage = metrics.get("coverage")
    if coverage is not None and coverage < COLLAPSED_COVERAGE:
        found.append(f"coverage {coverage:.3f} is near 0: the samples have collapsed")
    kl, before = metrics.get("class_kl"), (previous or {}).get("class_kl")
    if kl is not None and before is not None and comparable(metrics, previous) and kl > before + CLASS_KL_JUMP:
        found.append(f"class KL to uniform rose from {before:.3f} to {kl:.3f}: classes are being dropped")
    return found


def comparable(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    return bool(a and b and a.get("extractor") == b.get("extractor") and a.get("reference") == b.get("reference"))


def improves(candidate: dict[str, Any] | None, incumbent: dict[str, Any] | None) -> bool:
    """True when `candidate` may replace `incumbent` as best."""
    if not candidate or candidate.get("fd") is None or candidate.get("flags"):
        return False
    if not incumbent or incumbent.get("fd") is None:
        return True
    if not comparable(candidate, incumbent):
        return False
    noise = max(candidate.get("fd_noise") or 0.0, incumbent.get("fd_noise") or 0.0)
    return candidate["fd"] < incumbent["fd"] - noise
