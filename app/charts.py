"""A small line chart drawn with Pillow: FD and KID against training step, for GET /models/{name}/metrics.png.

Pillow is already a dependency; one chart does not justify a plotting library in the serving image.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

WIDTH, PANEL_HEIGHT, MARGIN_LEFT, MARGIN_RIGHT, MARGIN_Y = 640, 220, 70, 20, 30
COLOURS = {"fd": (31, 119, 180), "kid": (214, 39, 40), "best": (44, 160, 44)}


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    return [low + (high - low) * i / count for i in range(count + 1)]


def _panel(draw: ImageDraw.ImageDraw, top: int, title: str, points: list[tuple[int, float]], colour,
           steps: tuple[int, int], best_step: int | None) -> None:
    left, right, bottom = MARGIN_LEFT, WIDTH - MARGIN_RIGHT, top + PANEL_HEIGHT - MARGIN_Y
    plot_top = top + MARGIN_Y
    draw.text((left, top + 8), title, fill=(0, 0, 0))
    draw.rectangle([left, plot_top, right, bottom], outline=(160, 160, 160))
    if not points:
        draw.text((left + 10, plot_top + 10), "no scored versions yet", fill=(120, 120, 120))
        return
    values = [v for _, v in points]
    low, high = min(values), max(values)
    if high - low < 1e-12:
        low, high = low - 0.5 * abs(low or 1), high + 0.5 * abs(high or 1)
    first, last = steps
    span = max(last - first, 1)

    def xy(step: int, value: float) -> tuple[float, float]:
        return (left + (step - first) / span * (right - left),
                bottom - (value - low) / (high - low) * (bottom - plot_top))

    for value in _ticks(low, high):
        _, y = xy(first, value)
        draw.line([left - 4, y, left, y], fill=(0, 0, 0))
        draw.text((4, y - 6), f"{value:.4g}", fill=(0, 0, 0))
    for step in _ticks(first, last):
        x, _ = xy(int(step), low)
        draw.line([x, bottom, x, bottom + 4], fill=(0, 0, 0))
        draw.text((x - 12, bottom + 6), f"{int(step)}", fill=(0, 0, 0))
    coords = [xy(s, v) for s, v in points]
    if len(coords) > 1:
        draw.line(coords, fill=colour, width=2)
    for (s, _), (x, y) in zip(points, coords):
        ring = COLOURS["best"] if s == best_step else colour
        draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=ring)


def metrics_chart(model: str, fd: list[tuple[int, float]], kid: list[tuple[int, float]], n: int | None,
                  extractor: str | None, best_step: int | None) -> bytes:
    """PNG of two panels, FD and KID against step; the best version's point is green."""
    image = Image.new("RGB", (WIDTH, 2 * PANEL_HEIGHT + 24), "white")
    draw = ImageDraw.Draw(image)
    all_steps = [s for s, _ in fd + kid] or [0, 1]
    steps = (min(all_steps), max(all_steps))
    draw.text((MARGIN_LEFT, 4), f"{model}: N={n}, extractor {extractor} (green: best)", fill=(0, 0, 0))
    _panel(draw, 16, "FD (lower is better)", fd, COLOURS["fd"], steps, best_step)
    _panel(draw, 16 + PANEL_HEIGHT, "KID (lower is better)", kid, COLOURS["kid"], steps, best_step)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
