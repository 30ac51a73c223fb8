"""Plots: real PNGs drawn from the data they are given, ISO weeks that read as weeks, tick
labels that never overlap, symptom grades as distributions, and every plot's n and
definition written on it."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta, timezone
from itertools import combinations

import pytest
from matplotlib.dates import num2date
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image

from bot.db.models import EscalationLevel
from bot.research import plots
from bot.research.figures import GradePoint, Period, WeekEscalations, WeekGrades, WeekRate

PERIOD = Period(
    datetime(2025, 3, 3, tzinfo=timezone.utc), datetime(2025, 3, 24, tzinfo=timezone.utc)
)
WEEKS = [
    WeekRate(date(2025, 3, 3), decided=4, answered=2, participants=frozenset({1, 2})),
    WeekRate(date(2025, 3, 10), decided=0, answered=0),
    WeekRate(date(2025, 3, 17), decided=4, answered=3, participants=frozenset({2, 3})),
]
ESCALATIONS = [
    WeekEscalations(
        date(2025, 3, 3),
        {EscalationLevel.EMERGENCY: 1, EscalationLevel.URGENT: 2, EscalationLevel.ROUTINE: 0},
        frozenset({1}),
    ),
    WeekEscalations(
        date(2025, 3, 10),
        {EscalationLevel.EMERGENCY: 0, EscalationLevel.URGENT: 1, EscalationLevel.ROUTINE: 4},
        frozenset({1, 2}),
    ),
]
DISTRIBUTIONS = {
    "cough": [
        WeekGrades(date(2025, 3, 3), (1, 2, 1, 0, 0), frozenset({1, 2})),
        WeekGrades(date(2025, 3, 10), (0, 0, 0, 0, 0)),
        WeekGrades(date(2025, 3, 17), (0, 0, 1, 0, 1), frozenset({2})),
    ],
    "nausea": [
        WeekGrades(date(2025, 3, 3), (0, 0, 0, 0, 0)),
        WeekGrades(date(2025, 3, 10), (3, 0, 0, 0, 0), frozenset({3})),
        WeekGrades(date(2025, 3, 17), (0, 0, 0, 0, 0)),
    ],
}
GRADES = {
    "cough": [
        GradePoint(datetime(2025, 3, 3, 18, tzinfo=timezone.utc), 1.0),
        GradePoint(datetime(2025, 3, 8, 18, tzinfo=timezone.utc), 3.0),
    ],
    "shortness_of_breath": [GradePoint(datetime(2025, 3, 5, 18, tzinfo=timezone.utc), 2.0)],
}


def long_weeks(count: int) -> list[WeekRate]:
    """A year or so of weeks crossing New Year, every week answered."""
    first = date(2025, 6, 2)
    return [
        WeekRate(first + timedelta(weeks=index), 2, 1, frozenset({1})) for index in range(count)
    ]


def decoded(png: bytes) -> Image.Image:
    """The PNG decoded (fails if it is not one)."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def texts(figure: Figure) -> list[str]:
    """Every piece of text on the figure: titles, labels, ticks, legends, notes, footnote."""
    return [text.get_text() for text in figure.findobj(Text)]


def footnote(figure: Figure) -> str:
    """The figure's own texts, outside any plot area (its title and the note under it), with
    the footnote's line wrapping undone."""
    own = " ".join(text.get_text() for text in figure.findobj(Text) if text.axes is None)
    return " ".join(own.split())


def overlapping_tick_labels(figure: Figure) -> list[tuple[str, str]]:
    """Pairs of visible x tick labels, on any panel, whose drawn boxes intersect."""
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    figure.draw(renderer)
    clashes = []
    for axes in figure.axes:
        labels = [label for label in axes.get_xticklabels() if label.get_text()]
        boxes = [(label.get_text(), label.get_window_extent(renderer)) for label in labels]
        clashes += [
            (one, other) for (one, a), (other, b) in combinations(boxes, 2) if a.overlaps(b)
        ]
    return clashes


@pytest.mark.parametrize(
    "png",
    [
        plots.response_rate_png(WEEKS, title="Response", period=PERIOD),
        plots.escalations_png(ESCALATIONS, title="Escalations", period=PERIOD),
        plots.grade_distribution_png(DISTRIBUTIONS, title="Symptoms", period=PERIOD),
        plots.symptom_grades_png(GRADES, title="Symptoms"),
        plots.response_rate_png([], title="Empty", period=PERIOD),
        plots.escalations_png([], title="Empty", period=PERIOD),
        plots.grade_distribution_png({}, title="Empty", period=PERIOD),
        plots.symptom_grades_png({}, title="Empty"),
    ],
)
def test_every_plot_is_a_png_of_the_standard_width(png: bytes) -> None:
    image = decoded(png)

    assert image.format == "PNG"
    assert image.size[0] == 900


def test_weeks_are_labelled_as_iso_weeks() -> None:
    figure = plots.response_rate_figure(WEEKS, title="Response", period=PERIOD)

    ticks = [label.get_text() for label in figure.axes[0].get_xticklabels()]
    assert ticks == ["2025-W10\n3 Mar", "2025-W11\n10 Mar", "2025-W12\n17 Mar"]
    assert figure.axes[0].get_xlabel() == "ISO weeks, Monday to Sunday, UTC"


def test_response_rate_leaves_weeks_without_prompts_as_gaps() -> None:
    figure = plots.response_rate_figure(WEEKS, title="Response", period=PERIOD)

    line = figure.axes[0].lines[0]
    assert list(line.get_xdata()) == [0, 1, 2]
    rates = list(line.get_ydata())
    assert (rates[0], rates[2]) == (50.0, 75.0)
    assert rates[1] != rates[1]  # NaN: the line breaks there instead of joining the weeks


def test_no_plot_is_clipped_at_its_edges() -> None:
    figure = plots.response_rate_figure(WEEKS, title="Response", period=PERIOD)

    low, high = figure.axes[0].get_xlim()
    assert low < 0 - 0.4 and high > len(WEEKS) - 1 + 0.4


@pytest.mark.parametrize("count", [3, 12, 30, 60])
def test_week_tick_labels_never_overlap(count: int) -> None:
    weeks = long_weeks(count)
    grades = {
        name: [WeekGrades(week.week, (1, 1, 0, 0, 0), frozenset({1})) for week in weeks]
        for name in ("cough", "nausea", "fatigue")
    }
    start = datetime.combine(weeks[0].week, datetime.min.time(), tzinfo=timezone.utc)
    period = Period(start, start + timedelta(weeks=count))

    for figure in (
        plots.response_rate_figure(weeks, title="Response", period=period),
        plots.escalations_figure(
            [WeekEscalations(week.week, {}) for week in weeks], title="Esc", period=period
        ),
        plots.grade_distribution_figure(grades, title="Symptoms", period=period),
    ):
        assert overlapping_tick_labels(figure) == []


def test_escalations_are_stacked_by_level() -> None:
    figure = plots.escalations_figure(ESCALATIONS, title="Escalations", period=PERIOD)

    bars = figure.axes[0].containers
    heights = [[patch.get_height() for patch in container] for container in bars]
    bottoms = [[patch.get_y() for patch in container] for container in bars]
    assert heights == [[1, 0], [2, 1], [0, 4]]  # emergency, urgent, routine
    assert bottoms == [[0, 0], [1, 0], [3, 1]]
    assert {"Emergency", "Urgent", "Routine", "Escalations raised"} <= set(texts(figure))


def test_grades_are_stacked_shares_per_week_with_their_n() -> None:
    figure = plots.grade_distribution_figure(DISTRIBUTIONS, title="Symptoms", period=PERIOD)

    cough = figure.axes[1]
    assert cough.get_title(loc="left") == "Cough"
    bars = cough.containers
    assert len(bars) == 5  # one layer per grade, 0 to 4
    heights = [[patch.get_height() for patch in container] for container in bars]
    assert heights == [[25.0, 0.0], [50.0, 0.0], [25.0, 50.0], [0.0, 0.0], [0.0, 50.0]]
    tops = [sum(column) for column in zip(*heights, strict=True)]
    assert tops == [100.0, 100.0]
    assert [text.get_text() for text in cough.texts] == ["4", "2"]


def test_weeks_without_reports_are_empty_slots() -> None:
    figure = plots.grade_distribution_figure(DISTRIBUTIONS, title="Symptoms", period=PERIOD)

    cough, nausea = figure.axes[1], figure.axes[2]
    assert {patch.get_x() + patch.get_width() / 2 for patch in cough.patches} == {0, 2}
    assert {patch.get_x() + patch.get_width() / 2 for patch in nausea.patches} == {1}
    assert len(cough.get_xticks()) == 3  # the empty week keeps its place on the axis


def test_grades_have_an_ordinal_legend_and_no_mean() -> None:
    figure = plots.grade_distribution_figure(DISTRIBUTIONS, title="Symptoms", period=PERIOD)

    legend = figure.axes[0].get_legend()
    words = [text.get_text() for text in legend.get_texts()]
    assert words == ["0 none", "1 mild", "2 moderate", "3 severe", "4 very severe"]
    assert not any("mean" in text.lower() for text in texts(figure))


@pytest.mark.parametrize(
    ("figure", "counted", "definition"),
    [
        (
            plots.response_rate_figure(WEEKS, title="Response", period=PERIOD),
            "n = 3 participants, 8 check-in prompts answered or missed",
            plots.RESPONSE_DEFINITION,
        ),
        (
            plots.escalations_figure(ESCALATIONS, title="Escalations", period=PERIOD),
            "n = 2 participants, 8 escalations",
            plots.ESCALATIONS_DEFINITION,
        ),
        (
            plots.grade_distribution_figure(DISTRIBUTIONS, title="Symptoms", period=PERIOD),
            "n = 3 participants, 9 symptom reports",
            plots.GRADES_DEFINITION,
        ),
    ],
)
def test_every_study_plot_states_its_period_n_and_definition(
    figure: Figure, counted: str, definition: str
) -> None:
    note = footnote(figure)

    assert PERIOD.label in note
    assert counted in note
    assert " ".join(definition.split()) in note
    assert "test traffic (web chat) excluded" in note


def test_a_plot_with_test_traffic_says_so() -> None:
    figure = plots.response_rate_figure(WEEKS, title="R", period=PERIOD, include_test=True)

    assert "test traffic (web chat) included" in footnote(figure)


def test_alt_text_describes_each_weeks_reports() -> None:
    described = plots.grades_alt(DISTRIBUTIONS)

    assert "cough: 2025-W10 (from 3 Mar) n=4 (1 none, 2 mild, 1 moderate)" in described
    assert "nausea: 2025-W11 (from 10 Mar) n=3 (3 none)" in described
    assert "2025-W11 (from 10 Mar) no prompts" in plots.response_alt(WEEKS)


def test_symptom_grades_one_line_per_symptom_on_the_scale_words() -> None:
    figure = plots.symptom_grades_figure(GRADES, title="P-1: symptom grades")

    lines = figure.axes[0].lines
    assert [line.get_label() for line in lines] == ["cough", "shortness of breath"]
    assert list(lines[0].get_ydata()) == [1.0, 3.0]
    assert list(lines[1].get_ydata()) == [2.0]
    labels = texts(figure)
    for word in ("0 none", "1 mild", "2 moderate", "3 severe", "4 very severe"):
        assert word in labels
    assert "n = 3 graded symptom reports" in footnote(figure)


def test_a_period_sets_the_time_axis_with_a_margin() -> None:
    start = datetime(2025, 3, 1, tzinfo=timezone.utc)
    end = datetime(2025, 3, 31, tzinfo=timezone.utc)

    figure = plots.symptom_grades_figure(GRADES, title="Symptoms", span=(start, end))

    low, high = figure.axes[0].get_xlim()
    assert num2date(low) < start and num2date(high) > end
    assert overlapping_tick_labels(figure) == []


def test_empty_plots_say_so() -> None:
    for figure in (
        plots.response_rate_figure([], title="Empty", period=PERIOD),
        plots.escalations_figure([], title="Empty", period=PERIOD),
        plots.grade_distribution_figure({}, title="Empty", period=PERIOD),
        plots.symptom_grades_figure({}, title="Empty"),
    ):
        assert plots.EMPTY_NOTE in texts(figure)
