"""Plots: real PNGs of the expected size, drawn from the data they are given."""

from __future__ import annotations

import io
from datetime import date, datetime, timezone

import pytest
from matplotlib.dates import num2date
from matplotlib.figure import Figure
from PIL import Image

from bot.db.models import EscalationLevel
from bot.research import plots
from bot.research.figures import GradePoint, WeekEscalations, WeekRate

WEEKS = [
    WeekRate(date(2025, 3, 3), decided=4, answered=2),
    WeekRate(date(2025, 3, 10), decided=0, answered=0),
    WeekRate(date(2025, 3, 17), decided=4, answered=3),
]
ESCALATIONS = [
    WeekEscalations(
        date(2025, 3, 3),
        {EscalationLevel.EMERGENCY: 1, EscalationLevel.URGENT: 2, EscalationLevel.ROUTINE: 0},
    ),
    WeekEscalations(
        date(2025, 3, 10),
        {EscalationLevel.EMERGENCY: 0, EscalationLevel.URGENT: 1, EscalationLevel.ROUTINE: 4},
    ),
]
GRADES = {
    "cough": [
        GradePoint(datetime(2025, 3, 3, 18, tzinfo=timezone.utc), 1.0),
        GradePoint(datetime(2025, 3, 8, 18, tzinfo=timezone.utc), 3.0),
    ],
    "shortness_of_breath": [GradePoint(datetime(2025, 3, 5, 18, tzinfo=timezone.utc), 2.0)],
}


def decoded(png: bytes) -> Image.Image:
    """The PNG decoded (fails if it is not one)."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def texts(figure: Figure) -> list[str]:
    """Every piece of text on the figure's plot area (title, labels, ticks, legend, notes)."""
    axes = figure.axes[0]
    found = [axes.get_title(loc="left"), axes.get_xlabel(), axes.get_ylabel()]
    found += [label.get_text() for label in axes.get_xticklabels() + axes.get_yticklabels()]
    found += [text.get_text() for text in axes.texts]
    legend = axes.get_legend()
    if legend is not None:
        found += [text.get_text() for text in legend.get_texts()]
    return found


@pytest.mark.parametrize(
    "png",
    [
        plots.response_rate_png(WEEKS, title="Response"),
        plots.escalations_png(ESCALATIONS, title="Escalations"),
        plots.symptom_grades_png(GRADES, title="Symptoms"),
        plots.response_rate_png([], title="Empty"),
        plots.escalations_png([], title="Empty"),
        plots.symptom_grades_png({}, title="Empty"),
    ],
)
def test_every_plot_is_a_png_of_the_standard_size(png: bytes) -> None:
    image = decoded(png)

    assert image.format == "PNG"
    assert image.size == (900, 400)


def test_response_rate_plots_percentages_and_skips_weeks_without_prompts() -> None:
    figure = plots.response_rate_figure(WEEKS, title="P-1 response rate")

    line = figure.axes[0].lines[0]
    assert list(line.get_xdata()) == [0, 2]
    assert list(line.get_ydata()) == [50.0, 75.0]
    labels = texts(figure)
    assert [t for t in labels if t.endswith("Mar")] == ["3 Mar", "10 Mar", "17 Mar"]
    assert "Check-ins answered within 24 h" in labels
    assert "Week starting (Monday, UTC)" in labels


def test_escalations_are_stacked_by_level() -> None:
    figure = plots.escalations_figure(ESCALATIONS, title="Escalations")

    bars = figure.axes[0].containers
    heights = [[patch.get_height() for patch in container] for container in bars]
    bottoms = [[patch.get_y() for patch in container] for container in bars]
    assert heights == [[1, 0], [2, 1], [0, 4]]  # emergency, urgent, routine
    assert bottoms == [[0, 0], [1, 0], [3, 1]]
    assert {"Emergency", "Urgent", "Routine", "Escalations raised"} <= set(texts(figure))


def test_symptom_grades_one_line_per_symptom_on_the_scale_words() -> None:
    figure = plots.symptom_grades_figure(GRADES, title="P-1: symptom grades")

    lines = figure.axes[0].lines
    assert [line.get_label() for line in lines] == ["cough", "shortness of breath"]
    assert list(lines[0].get_ydata()) == [1.0, 3.0]
    assert list(lines[1].get_ydata()) == [2.0]
    labels = texts(figure)
    for word in ("0 none", "1 mild", "2 moderate", "3 severe", "4 very severe"):
        assert word in labels


def test_a_period_sets_the_time_axis() -> None:
    start = datetime(2025, 3, 1, tzinfo=timezone.utc)
    end = datetime(2025, 3, 31, tzinfo=timezone.utc)

    figure = plots.symptom_grades_figure(GRADES, title="Symptoms", span=(start, end))

    low, high = figure.axes[0].get_xlim()
    assert (num2date(low), num2date(high)) == (start, end)


def test_empty_plots_say_so() -> None:
    for figure in (
        plots.response_rate_figure([], title="Empty"),
        plots.escalations_figure([], title="Empty"),
        plots.symptom_grades_figure({}, title="Empty"),
    ):
        assert plots.EMPTY_NOTE in texts(figure)
