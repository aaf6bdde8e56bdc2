"""Charts as PNGs: a job's training curves, and a model's quality (FD and KID) across its versions."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display on a server; set before anything imports pyplot

from matplotlib.figure import Figure  # noqa: E402  (the object API needs no global state: thread-safe)

# record key -> (panel, legend label); records hold whichever their objective produces
SERIES = {
    "loss_d": (0, "D loss"), "loss_g": (0, "G loss"), "gradient_penalty": (0, "gradient penalty"),
    "score_d": (1, "D score: mean of D(x) and 1 - D(G(z))"), "score_g": (1, "G score: mean D(G(z))"),
    "wasserstein": (1, "critic's Wasserstein estimate"), "diversity": (1, "sample diversity / real"),
}


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def plot_metrics(records: list[dict], title: str) -> bytes:
    """Losses on top, scores (or the Wasserstein estimate) below, against step."""
    figure = Figure(figsize=(8, 6), dpi=100, layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True)
    figure.suptitle(title)
    if not records:
        top.text(0.5, 0.5, "no metrics yet: the job records one point per window of steps",
                 ha="center", va="center", transform=top.transAxes)
    steps = [r["step"] for r in records]
    for key, (panel, label) in SERIES.items():
        values = [r.get(key) for r in records]
        if any(v is not None for v in values):
            axis = (top, bottom)[panel]
            axis.plot(steps, [float("nan") if v is None else v for v in values], label=label,
                      linestyle="--" if key == "diversity" else "-", linewidth=1)
    top.set_ylabel("loss")
    bottom.set_ylabel("score")
    bottom.set_xlabel("step")
    for axis in (top, bottom):
        axis.grid(alpha=0.3)
        if axis.lines:
            axis.legend(loc="best", fontsize="small")
    return _png(figure)


def plot_quality(model: str, fd: list[tuple[int, float]], kid: list[tuple[int, float]], n: int | None,
                 extractor: str | None, best_step: int | None) -> bytes:
    """FD and KID of the scored versions against their training step (lower is better); the best in green."""
    figure = Figure(figsize=(8, 6), dpi=100, layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True)
    figure.suptitle(f"{model}: N={n}, extractor {extractor}")
    for axis, points, label in ((top, fd, "FD"), (bottom, kid, "KID")):
        axis.set_ylabel(f"{label} (lower is better)")
        axis.grid(alpha=0.3)
        if not points:
            axis.text(0.5, 0.5, "no scored versions yet", ha="center", va="center", transform=axis.transAxes)
            continue
        steps, values = zip(*points)
        axis.plot(steps, values, marker="o", linewidth=1)
        best = [(s, v) for s, v in points if s == best_step]
        if best:
            axis.plot(*zip(*best), marker="o", color="tab:green", linestyle="none", label="best")
            axis.legend(loc="best", fontsize="small")
    bottom.set_xlabel("step")
    return _png(figure)
