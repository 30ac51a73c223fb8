"""Plots of the engagement figures, drawn server-side as PNG (matplotlib's Agg backend).

Each plot is built from the plain data of bot.research.figures as a `Figure` (tests read
its data back), then rendered with `png()`. Figures are drawn on matplotlib's Agg canvas
through its object API, not pyplot: no global state, so the web app's threads can draw at
once. Plots name participants by study ID only.

Every study-wide plot has the same frame: a title, x ticks that are ISO weeks (thinned so
their labels never overlap, with a margin at each end), and a footnote with the period, its
n (participants and what was counted), the definition, and whether test traffic is in.
Symptom grades are ordinal: they are drawn as the share of reports at each grade per week
(a stacked 100% bar with its n), never averaged.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, PercentFormatter

from bot.db.models import EscalationLevel
from bot.research.figures import (
    GRADES,
    LEVELS,
    GradePoint,
    Period,
    WeekEscalations,
    WeekGrades,
    WeekRate,
    iso_week_label,
)
from bot.study.pro_ctcae import SEVERITY

WIDTH_INCHES = 9.0
HEIGHT_INCHES = 4.4
PANEL_HEIGHT_INCHES = 2.4
DPI = 100
# At most this many week ticks across the full width (fewer in a panel of small multiples).
MAX_WEEK_TICKS = 12
# Characters per footnote line before it wraps (8 pt text across the figure's width).
FOOTNOTE_WIDTH = 150
LEVEL_COLOURS = {
    EscalationLevel.EMERGENCY: "#b3261e",
    EscalationLevel.URGENT: "#c25e00",
    EscalationLevel.ROUTINE: "#0b5394",
}
# An ordinal scale, light to dark, for grades 0 (none) to 4 (very severe) (ColorBrewer YlOrRd).
GRADE_COLOURS = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
LINE_COLOUR = "#0b5394"
EMPTY_NOTE = "No data in this period"
WEEKS_NOTE = "ISO weeks, Monday to Sunday, UTC"
RESPONSE_DEFINITION = (
    "Response rate = check-in prompts answered (check-in completed within 24 h) / prompts "
    "answered or missed, per ISO week of the prompt"
)
ESCALATIONS_DEFINITION = "Escalations raised per ISO week, stacked by level"
GRADES_DEFINITION = (
    "Share of a symptom's PRO-CTCAE severity reports at each grade per ISO week "
    "(n = reports above each bar; a week without reports is left empty; grades are not averaged)"
)

# The definitions under each plot, for pages to show as text beside the images.
FIGURE_NOTES = {
    "response": f"{RESPONSE_DEFINITION}; {WEEKS_NOTE}.",
    "escalations": f"{ESCALATIONS_DEFINITION}; {WEEKS_NOTE}.",
    "symptoms": f"{GRADES_DEFINITION}; {WEEKS_NOTE}.",
}


def _canvas(height: float = HEIGHT_INCHES) -> Figure:
    """A blank figure of the standard width, laid out so nothing is clipped."""
    figure = Figure(figsize=(WIDTH_INCHES, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _style(axes: Axes) -> None:
    """Light horizontal grid, no top or right frame."""
    axes.grid(axis="y", color="#d0d7de", linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def _figure(title: str) -> tuple[Figure, Axes]:
    """A blank figure of the standard size with one titled plot area."""
    figure = _canvas()
    axes = figure.add_subplot()
    axes.set_title(title, loc="left", fontsize=13)
    _style(axes)
    return figure, axes


def _footnote(figure: Figure, *lines: str) -> None:
    """The plot's n and definitions, under it (wrapped to the figure's width)."""
    text = "\n".join(textwrap.fill(line, FOOTNOTE_WIDTH) for line in lines)
    figure.supxlabel(text, x=0.01, ha="left", fontsize=8, color="#444444")


def _study_footnote(
    figure: Figure,
    frame: tuple[Period, bool],
    counted: str,
    definition: str,
    owners: Iterable[frozenset[int]],
) -> None:
    """A study-wide plot's footnote: the period (and test traffic in or out, from `frame`),
    n participants (the union of `owners`) and what was `counted`, and the definition."""
    period, include_test = frame
    people = len(frozenset().union(*owners))
    traffic = "included" if include_test else "excluded"
    summary = f"{period.label} · n = {people} participants, {counted}"
    _footnote(figure, f"{summary} · test traffic (web chat) {traffic}", definition)


def _note_if_empty(axes: Axes, empty: bool) -> None:
    """Say so on the plot when there is nothing to draw."""
    if not empty:
        return
    axes.text(0.5, 0.5, EMPTY_NOTE, transform=axes.transAxes, ha="center", va="center")


def week_tick_label(week: date) -> str:
    """A week's label on the x axis: its ISO week and Monday, as "2026-W48" over "23 Nov"."""
    return f"{iso_week_label(week)}\n{week.day} {week:%b}"


def _week_axis(axes: Axes, weeks: Sequence[date], *, max_ticks: int = MAX_WEEK_TICKS) -> None:
    """Weeks as categories: every week a slot, every k-th labelled, half a slot of margin."""
    step = max(1, math.ceil(len(weeks) / max_ticks))
    ticks = list(range(0, len(weeks), step))
    axes.set_xticks(ticks)
    axes.set_xticklabels([week_tick_label(weeks[index]) for index in ticks], fontsize=8)
    axes.set_xlim(-0.6, max(len(weeks) - 0.4, 0.6))
    axes.set_xlabel(WEEKS_NOTE)


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def response_rate_figure(
    weeks: Sequence[WeekRate], *, title: str, period: Period, include_test: bool = False
) -> Figure:
    """Weekly check-in response rate (percent of decided prompts answered), a line.

    A week with nothing decided is a gap in the line, not joined across.
    """
    figure, axes = _figure(title)
    rates = [week.rate * 100 if week.rate is not None else math.nan for week in weeks]
    axes.plot(range(len(weeks)), rates, marker="o", color=LINE_COLOUR, linewidth=2)
    _week_axis(axes, [week.week for week in weeks])
    axes.set_ylim(0, 105)
    axes.yaxis.set_major_formatter(PercentFormatter())
    axes.set_ylabel("Prompts answered within 24 h")
    decided = sum(week.decided for week in weeks)
    counted = f"{decided} check-in prompts answered or missed"
    owners = (week.participants for week in weeks)
    _study_footnote(figure, (period, include_test), counted, RESPONSE_DEFINITION, owners)
    _note_if_empty(axes, not decided)
    return figure


def escalations_figure(
    weeks: Sequence[WeekEscalations], *, title: str, period: Period, include_test: bool = False
) -> Figure:
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
    _week_axis(axes, [week.week for week in weeks])
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(0, max([*bottom, 1]) * 1.15)
    axes.set_ylabel("Escalations raised")
    axes.legend(loc="upper left", frameon=False, ncol=len(LEVELS))
    counted = f"{sum(bottom)} escalations"
    owners = (week.participants for week in weeks)
    _study_footnote(figure, (period, include_test), counted, ESCALATIONS_DEFINITION, owners)
    _note_if_empty(axes, not any(bottom))
    return figure


def _grade_panel(axes: Axes, symptom: str, weeks: Sequence[WeekGrades], max_ticks: int) -> None:
    """One symptom's weeks as stacked 100% bars by grade, n above each; empty weeks left out."""
    _style(axes)
    axes.set_title(symptom.replace("_", " ").capitalize(), loc="left", fontsize=10)
    filled = [(index, week) for index, week in enumerate(weeks) if week.n]
    positions = [index for index, _ in filled]
    bottom = [0.0] * len(filled)
    for grade in GRADES:
        heights = [week.counts[grade] / week.n * 100 for _, week in filled]
        axes.bar(
            positions,
            heights,
            bottom=bottom,
            width=0.8,
            color=GRADE_COLOURS[grade],
            edgecolor="#888888",
            linewidth=0.4,
        )
        bottom = [below + height for below, height in zip(bottom, heights, strict=True)]
    rotation = 90 if len(weeks) > 2 * max_ticks else 0
    for index, week in filled:
        axes.text(index, 102, str(week.n), ha="center", va="bottom", fontsize=7, rotation=rotation)
    _week_axis(axes, [week.week for week in weeks], max_ticks=max_ticks)
    axes.set_xlabel("")
    axes.set_ylim(0, 118)
    axes.set_yticks([0, 50, 100])
    axes.yaxis.set_major_formatter(PercentFormatter())
    _note_if_empty(axes, not filled)


def _grade_key(axes: Axes) -> None:
    """The grade scale's legend, in a strip of its own above the panels."""
    axes.set_axis_off()
    axes.legend(
        [Patch(facecolor=colour, edgecolor="#888888") for colour in GRADE_COLOURS],
        [f"{grade} {word}" for grade, word in zip(GRADES, SEVERITY.labels, strict=True)],
        loc="center left",
        ncol=len(GRADE_COLOURS),
        frameon=False,
        fontsize=8,
        title="Grade (PRO-CTCAE severity)",
        title_fontsize=8,
    )


def grade_distribution_figure(
    series: Mapping[str, Sequence[WeekGrades]],
    *,
    title: str,
    period: Period,
    include_test: bool = False,
) -> Figure:
    """Symptom grades per ISO week as distributions: one panel per symptom (small multiples).

    Each week is a stacked 100% bar of the share of that week's reports at each grade 0-4,
    with the week's n above it; weeks without reports are empty slots.
    """
    columns = 2 if len(series) > 1 else 1
    rows = max(1, math.ceil(len(series) / columns))
    figure = _canvas(PANEL_HEIGHT_INCHES * rows + 1.8)
    figure.suptitle(title, x=0.01, ha="left", fontsize=13)
    grid = figure.add_gridspec(rows + 1, columns, height_ratios=[0.22] + [1.0] * rows)
    _grade_key(figure.add_subplot(grid[0, :]))
    panels = [
        figure.add_subplot(grid[1 + index // columns, index % columns])
        for index in range(rows * columns)
    ]
    for axes, (symptom, weeks) in zip(panels, series.items(), strict=False):
        _grade_panel(axes, symptom, weeks, max_ticks=MAX_WEEK_TICKS // columns)
    for axes in panels[len(series) :]:
        axes.set_axis_off()
    if not series:
        _note_if_empty(panels[0], True)
    reports = sum(week.n for weeks in series.values() for week in weeks)
    counted = f"{reports} symptom reports"
    owners = (week.participants for weeks in series.values() for week in weeks)
    _study_footnote(
        figure, (period, include_test), counted, GRADES_DEFINITION + "; " + WEEKS_NOTE, owners
    )
    return figure


def symptom_grades_figure(
    series: Mapping[str, Sequence[GradePoint]],
    *,
    title: str,
    y_label: str = "Grade",
    span: tuple[datetime, datetime] | None = None,
) -> Figure:
    """One participant's symptom grades over time, one line per symptom, on the 0-4 scale.

    `span` sets the time axis (the period, with a small margin each side so the first and
    last reports are not clipped).
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
    reports = sum(len(points) for points in series.values())
    _footnote(figure, f"n = {reports} graded symptom reports; each point is one report")
    if not series:
        axes.set_xticks([])
        _note_if_empty(axes, True)
        return figure
    if span is not None:
        margin = max((span[1] - span[0]) / 50, timedelta(hours=12))
        axes.set_xlim(span[0] - margin, span[1] + margin)
    axes.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=7))
    axes.xaxis.set_major_formatter(DateFormatter("%-d %b"))  # "9 Nov", as on the other plots
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return figure


def _week_words(week: date) -> str:
    """A week in words for alt text: "2026-W48 (from 23 Nov)"."""
    return f"{iso_week_label(week)} (from {week.day} {week:%b})"


def response_alt(weeks: Sequence[WeekRate]) -> str:
    """The response-rate plot in words, for a screen reader."""
    described = [
        f"{_week_words(week.week)} "
        + (f"{week.answered} of {week.decided}" if week.decided else "no prompts")
        for week in weeks
    ]
    return "Line chart of the check-in response rate per ISO week: " + ", ".join(described)


def escalations_alt(weeks: Sequence[WeekEscalations]) -> str:
    """The escalations plot in words, for a screen reader."""
    described = [f"{_week_words(week.week)} {week.total}" for week in weeks]
    return "Bar chart of escalations raised per ISO week, by level: " + ", ".join(described)


def grades_alt(series: Mapping[str, Sequence[WeekGrades]]) -> str:
    """The symptom grade plot in words: per symptom and week, the reports at each grade."""
    if not series:
        return "Symptom grades per ISO week: no graded symptom reports in the period."
    parts = []
    for symptom, weeks in series.items():
        filled = [
            f"{_week_words(week.week)} n={week.n} ("
            + ", ".join(
                f"{count} {word}"
                for count, word in zip(week.counts, SEVERITY.labels, strict=True)
                if count
            )
            + ")"
            for week in weeks
            if week.n
        ]
        parts.append(f"{symptom.replace('_', ' ')}: " + "; ".join(filled))
    return (
        "Stacked 100% bars of the share of symptom reports at each grade, per ISO week, "
        "one panel per symptom. " + ". ".join(parts)
    )


def response_rate_png(
    weeks: Sequence[WeekRate], *, title: str, period: Period, include_test: bool = False
) -> bytes:
    """PNG of the weekly response rate."""
    return png(response_rate_figure(weeks, title=title, period=period, include_test=include_test))


def escalations_png(
    weeks: Sequence[WeekEscalations], *, title: str, period: Period, include_test: bool = False
) -> bytes:
    """PNG of escalations per week by level."""
    return png(escalations_figure(weeks, title=title, period=period, include_test=include_test))


def grade_distribution_png(
    series: Mapping[str, Sequence[WeekGrades]],
    *,
    title: str,
    period: Period,
    include_test: bool = False,
) -> bytes:
    """PNG of the symptom grade distributions per week."""
    return png(
        grade_distribution_figure(series, title=title, period=period, include_test=include_test)
    )


def symptom_grades_png(
    series: Mapping[str, Sequence[GradePoint]],
    *,
    title: str,
    y_label: str = "Grade",
    span: tuple[datetime, datetime] | None = None,
) -> bytes:
    """PNG of one participant's symptom grades over time."""
    return png(symptom_grades_figure(series, title=title, y_label=y_label, span=span))
