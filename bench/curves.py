"""FD against wall-clock minutes, the figure of the family table and of the reference race."""

from __future__ import annotations

from pathlib import Path


def plot_fd(curves: dict[str, list[dict]], path: Path, xlabel: str, targets: dict[str, float] | None = None,
            deadline: float | None = None, size: tuple[float, float] = (8, 4.8)) -> None:
    """One line per curve of {"minutes", "fd"} points, on a log scale; each curve's target FD as a dotted line
    of its colour, and a deadline as a grey vertical one."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=size, dpi=110)
    for name, curve in curves.items():
        line, = axis.plot([p["minutes"] for p in curve], [p["fd"] for p in curve], marker="o", markersize=3,
                          label=name)
        if targets and name in targets:
            axis.axhline(targets[name], color=line.get_color(), linestyle=":", linewidth=0.8)
    if deadline is not None:
        axis.axvline(deadline, color="grey", linestyle=":", linewidth=1)
    axis.set_yscale("log")
    axis.set_xlabel(xlabel)
    axis.set_ylabel("FD, shipped extractor, N = 10,000")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(ncol=2 if len(curves) > 3 else 1)
    figure.tight_layout()
    figure.savefig(path)
