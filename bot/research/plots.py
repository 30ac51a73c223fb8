"""Plots of the engagement figures, drawn server-side as PNG (matplotlib's Agg backend).

Each plot is built from the plain data of bot.research.figures as a `Figure` (tests read
its data back), then rendered with `png()`. Figures are drawn on matplotlib's Agg canvas
through its object API, not pyplot: no global state, so the web app's threads can draw at
once. Plots
name participants by study ID only.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date, datetime

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from bot.db.models import EscalationLevel
from bot.research.figures import LEVELS, GradePoint, WeekEscalations, WeekRate
from bot.study.pro_ctcae import SEVERITY

WIDTH_INCHES = 9.0
HEIGHT_INCHES = 4.0
DPI = 100
LEVEL_COLOURS = {
    EscalationLevel.EMERGENCY: "#b3261e",
    EscalationLevel.URGENT: "#c25e00",
    EscalationLevel.ROUTINE: "#0b5394",
}
LINE_COLOUR = "#0b5394"
EMPTY_NOTE = "No data in this period"


def _figure(title: str) -> tuple[Figure, Axes]:
    """A blank figure of the standard size with one titled plot area."""
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(title, loc="left", fontsize=13)
    axes.grid(axis="y", color="#d0d7de", linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    return figure, axes


def _note_if_empty(axes: Axes, empty: bool) -> None:
    """Say so on the plot when there is nothing to draw."""
    if not empty:
        return
    axes.text(0.5, 0.5, EMPTY_NOTE, transform=axes.transAxes, ha="center", va="center")


def _week_label(week: date) -> str:
    """A week's label on the x axis: its Monday, as 3 Mar."""
    return f"{week.day} {week:%b}"


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes."""
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def response_rate_figure(weeks: Sequence[WeekRate], *, title: str) -> Figure:
    """Weekly check-in response rate (percent of decided prompts answered), a line."""
    figure, axes = _figure(title)
    points = [(index, week.rate) for index, week in enumerate(weeks) if week.rate is not None]
    axes.plot(
        [index for index, _ in points],
        [rate * 100 for _, rate in points],
        marker="o",
        color=LINE_COLOUR,
        linewidth=2,
    )
    axes.set_xticks(range(len(weeks)))
    axes.set_xticklabels([_week_label(week.week) for week in weeks], rotation=0)
    axes.set_xlim(-0.5, max(len(weeks) - 0.5, 0.5))
    axes.set_ylim(0, 105)
    axes.yaxis.set_major_formatter(PercentFormatter())
    axes.set_xlabel("Week starting (Monday, UTC)")
    axes.set_ylabel("Check-ins answered within 24 h")
    _note_if_empty(axes, not points)
    return figure


def escalations_figure(weeks: Sequence[WeekEscalations], *, title: str) -> Figure:
    """Escalations raised per week, stacked by level."""
    figure, axes = _figure(title)
    positions = list(range(len(weeks)))
    bottom = [0] * len(weeks)
    for level in LEVELS:
        heights = [week.counts.get(level, 0) for week in weeks]
        axes.bar(
            positions,
            heights,
            bottom=bottom,
            color=LEVEL_COLOURS[level],
            label=level.value.capitalize(),
            width=0.7,
        )
        bottom = [below + height for below, height in zip(bottom, heights, strict=True)]
    axes.set_xticks(positions)
    axes.set_xticklabels([_week_label(week.week) for week in weeks])
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(0, max([*bottom, 1]) * 1.15)
    axes.set_xlabel("Week starting (Monday, UTC)")
    axes.set_ylabel("Escalations raised")
    axes.legend(loc="upper left", frameon=False, ncol=len(LEVELS))
    _note_if_empty(axes, not any(bottom))
    return figure


def symptom_grades_figure(
    series: Mapping[str, Sequence[GradePoint]],
    *,
    title: str,
    y_label: str = "Grade",
    span: tuple[datetime, datetime] | None = None,
) -> Figure:
    """Symptom grades over time, one line per symptom, on the 0-4 scale with its words.

    `span` sets the time axis (the period), so a plot shows the whole period asked for.
    """
    figure, axes = _figure(title)
    for symptom, points in series.items():
        axes.plot(
            [point.at for point in points],
            [point.grade for point in points],
            marker="o",
            linewidth=1.8,
            label=symptom.replace("_", " "),
        )
    axes.set_ylim(-0.2, 4.2)
    axes.set_yticks(range(5))
    axes.set_yticklabels([f"{point} {word}" for point, word in enumerate(SEVERITY.labels)])
    axes.set_xlabel("Date (UTC)")
    axes.set_ylabel(y_label)
    if not series:
        axes.set_xticks([])
        _note_if_empty(axes, True)
        return figure
    if span is not None:
        axes.set_xlim(*span)
    axes.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=8))
    axes.xaxis.set_major_formatter(DateFormatter("%-d %b"))  # "9 Nov", as on the other plots
    axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return figure


def response_rate_png(weeks: Sequence[WeekRate], *, title: str) -> bytes:
    """PNG of the weekly response rate."""
    return png(response_rate_figure(weeks, title=title))


def escalations_png(weeks: Sequence[WeekEscalations], *, title: str) -> bytes:
    """PNG of escalations per week by level."""
    return png(escalations_figure(weeks, title=title))


def symptom_grades_png(
    series: Mapping[str, Sequence[GradePoint]],
    *,
    title: str,
    y_label: str = "Grade",
    span: tuple[datetime, datetime] | None = None,
) -> bytes:
    """PNG of symptom grades over time."""
    return png(symptom_grades_figure(series, title=title, y_label=y_label, span=span))
