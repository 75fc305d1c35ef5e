"""Geometry for the server-rendered SVG charts (no JS library): the workforce pages' bars and the
hourly column charts of the channel and watchdog pages, the funnel's lines over time.

Templates only place the numbers computed here; every bar also appears in a plain table next to
the chart, so the figures are readable without the picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

LABEL_WIDTH = 170
BAR_AREA = 420
VALUE_GAP = 8
ROW_HEIGHT = 38
BAR_HEIGHT = 12
TOP = 24


@dataclass(frozen=True)
class ChartRow:
    label: str
    first: int
    second: int
    limit: int
    y: int
    first_width: float
    second_width: float
    limit_x: float
    over: bool

    @property
    def short(self) -> bool:
        """The second bar falls short of the first (e.g. agents after < agents needed)."""
        return self.second < self.first

    @property
    def text_y(self) -> int:
        return self.y + BAR_HEIGHT

    @property
    def second_y(self) -> int:
        return self.y + BAR_HEIGHT + 2

    @property
    def mark_top(self) -> int:
        return self.y - 3

    @property
    def mark_bottom(self) -> int:
        return self.y + 2 * BAR_HEIGHT + 5


@dataclass(frozen=True)
class Tick:
    x: float
    value: int


@dataclass(frozen=True)
class BarChart:
    rows: list[ChartRow]
    ticks: list[Tick]
    width: int
    height: int
    bar_x: int = LABEL_WIDTH
    value_x: int = LABEL_WIDTH + BAR_AREA + VALUE_GAP
    axis_y: int = TOP - 8

    @property
    def axis_end(self) -> int:
        return self.bar_x + BAR_AREA


def paired_bars(items: Sequence[tuple[str, int, int, int]]) -> BarChart:
    """Rows of (label, first, second, limit): two bars per row (e.g. before/after, or
    needed/after) and a limit mark (capacity). `over` flags a second bar past its limit."""
    scale_max = max([1, *(max(a, b, c) for _label, a, b, c in items)])
    unit = BAR_AREA / scale_max
    rows = [
        ChartRow(
            label=label,
            first=first,
            second=second,
            limit=limit,
            y=TOP + i * ROW_HEIGHT,
            first_width=round(max(first, 0) * unit, 1),
            second_width=round(max(second, 0) * unit, 1),
            limit_x=round(LABEL_WIDTH + max(limit, 0) * unit, 1),
            over=second > limit,
        )
        for i, (label, first, second, limit) in enumerate(items)
    ]
    step = _nice_step(scale_max)
    ticks = [Tick(round(LABEL_WIDTH + v * unit, 1), v) for v in range(0, scale_max + 1, step)]
    return BarChart(
        rows=rows,
        ticks=ticks,
        width=LABEL_WIDTH + BAR_AREA + VALUE_GAP + 110,
        height=TOP + max(len(rows), 1) * ROW_HEIGHT + 8,
    )


def _nice_step(maximum: int) -> int:
    """A round tick step giving at most about six ticks."""
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if maximum / step <= 6:
            return step
    return max(maximum // 5, 1)


@dataclass(frozen=True)
class SeatBar:
    """A team's seats as one bar: agents now, arrivals on top, a mark at capacity."""

    width: int
    occupied_width: float
    incoming_x: float
    incoming_width: float
    over: bool


def seat_bar(occupied: int, after: int, capacity: int, *, width: int = 160) -> SeatBar:
    scale = max(capacity, after, occupied, 1)
    unit = width / scale
    occupied_width = round(max(occupied, 0) * unit, 1)
    return SeatBar(
        width=width,
        occupied_width=occupied_width,
        incoming_x=occupied_width,
        incoming_width=round(max(after - occupied, 0) * unit, 1),
        over=after > capacity,
    )


@dataclass(frozen=True)
class Column:
    at: object  # what the column counts for (an hour)
    n: int
    x: float
    y: float
    width: float
    height: float


def column_chart(
    counts: Sequence[tuple[object, int]],
    *,
    left: float,
    top: float,
    plot_width: float,
    plot_height: float,
    gap: float,
    min_height: float = 0,
) -> tuple[list[Column], int]:
    """Columns proportional to their counts, the tallest filling the plot: (columns, peak).
    A column of 0 is `min_height` tall, so an empty hour still shows where it stands."""
    peak = max((n for _at, n in counts), default=0) or 1
    step = plot_width / max(len(counts), 1)
    width = max(round(step - gap, 1), 1)
    columns = []
    for i, (at, n) in enumerate(counts):
        height = max(round(plot_height * n / peak, 1), min_height)
        columns.append(
            Column(
                at=at,
                n=n,
                x=round(left + i * step, 1),
                y=round(top + plot_height - height, 1),
                width=width,
                height=height,
            )
        )
    return columns, peak


@dataclass(frozen=True)
class Segment:
    key: str  # what the part counts (a CSS class names its colour)
    n: int
    x: float
    width: float


@dataclass(frozen=True)
class StackedRow:
    label: str
    total: int
    y: int
    segments: list[Segment]
    note: str = ""  # written after the bar

    @property
    def text_y(self) -> int:
        return self.y + STACK_HEIGHT - 5


STACK_HEIGHT = 20


@dataclass(frozen=True)
class StackedChart:
    rows: list[StackedRow]
    width: int
    height: int
    bar_x: int = LABEL_WIDTH
    value_x: int = LABEL_WIDTH + BAR_AREA + VALUE_GAP


def stacked_bars(items: Sequence[tuple[str, Sequence[tuple[str, int]], str]]) -> StackedChart:
    """Rows of (label, parts, note): one bar per row split into its parts, each as wide as its
    share of the row's total (every bar is full width: the chart compares shares, the table beside
    it gives the numbers), the note after it. Parts of 0 are left out; a row whose total is 0 has
    no part."""
    rows = []
    for i, (label, parts, note) in enumerate(items):
        total = sum(max(n, 0) for _key, n in parts)
        x = float(LABEL_WIDTH)
        segments = []
        for key, n in parts:
            if n <= 0:
                continue
            width = round(BAR_AREA * n / total, 1)
            segments.append(Segment(key=key, n=n, x=round(x, 1), width=width))
            x += width
        rows.append(StackedRow(label=label, total=total, y=TOP + i * ROW_HEIGHT, segments=segments, note=note))
    return StackedChart(
        rows=rows,
        width=LABEL_WIDTH + BAR_AREA + VALUE_GAP + 110,
        height=TOP + max(len(rows), 1) * ROW_HEIGHT + 8,
    )


@dataclass(frozen=True)
class LinePoint:
    at: object  # what the point counts for (an hour, a day)
    n: int
    x: float
    y: float


@dataclass(frozen=True)
class Line:
    key: str
    points: list[LinePoint]

    @property
    def svg_points(self) -> str:
        """The `points` attribute of the line's <polyline>."""
        return " ".join(f"{p.x:g},{p.y:g}" for p in self.points)


@dataclass(frozen=True)
class AxisMark:
    position: float  # y for a value tick, x for a time label
    value: object


@dataclass(frozen=True)
class LineChart:
    lines: list[Line]
    ticks: list[AxisMark]  # values on the y axis
    labels: list[AxisMark]  # a few instants along the x axis
    peak: int
    width: int
    height: int
    left: int
    top: int
    base: int  # the y of zero

    right: int  # the x where the plot ends


def line_chart(
    times: Sequence[object],
    series: Sequence[tuple[str, Sequence[int]]],
    *,
    width: int = 720,
    height: int = 220,
    left: int = 40,
    top: int = 12,
    right: int = 28,
    bottom: int = 28,
    max_labels: int = 7,
) -> LineChart:
    """One line per (key, counts) over the same instants, the highest value reaching the top of
    the plot; value ticks at round steps and at most `max_labels` instants labelled below."""
    peak = max((n for _key, counts in series for n in counts), default=0)
    scale = max(peak, 1)
    plot_width = width - left - right  # room on the right for the last instant's label
    plot_height = height - top - bottom
    base = top + plot_height
    count = len(times)
    step = plot_width / (count - 1) if count > 1 else 0

    def x_of(i: int) -> float:
        return round(left + (i * step if count > 1 else plot_width / 2), 1)

    lines = [
        Line(
            key=key,
            points=[
                LinePoint(at=at, n=n, x=x_of(i), y=round(base - plot_height * n / scale, 1))
                for i, (at, n) in enumerate(zip(times, counts, strict=True))
            ],
        )
        for key, counts in series
    ]
    tick_step = _nice_step(scale)
    ticks = [AxisMark(round(base - plot_height * v / scale, 1), v) for v in range(0, scale + 1, tick_step)]
    every = max(1, -(-count // max_labels))  # ceiling division
    labels = [AxisMark(x_of(i), times[i]) for i in range(0, count, every)]
    return LineChart(
        lines=lines,
        ticks=ticks,
        labels=labels,
        peak=peak,
        width=width,
        height=height,
        left=left,
        right=width - right,
        top=top,
        base=base,
    )
