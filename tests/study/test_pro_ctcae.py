"""Reading answers on the PRO-CTCAE 0-4 scales."""

from __future__ import annotations

import pytest

from bot.study.pro_ctcae import Attribute, label, read_answer


@pytest.mark.parametrize(
    ("text", "point"),
    [
        ("0", 0),
        ("4", 4),
        (" 3 ", 3),
        ("2/4", 2),
        ("none", 0),
        ("mild", 1),
        ("Moderate", 2),
        ("severe", 3),
        ("very severe", 4),
        ("a little", 1),
        ("not too bad", 1),
        ("kinda bad", 2),
        ("pretty bad", 3),
        ("its pretty bad today", 3),
        ("really bad", 3),
        ("terrible", 4),
        ("the worst", 4),
        ("unbearable!!", 4),
    ],
)
def test_severity_answers(text: str, point: int) -> None:
    assert read_answer(Attribute.SEVERITY, text) == point


@pytest.mark.parametrize(
    ("text", "point"),
    [("never", 0), ("once", 1), ("sometimes", 2), ("a lot", 3), ("all the time", 4), ("1", 1)],
)
def test_frequency_answers(text: str, point: int) -> None:
    assert read_answer(Attribute.FREQUENCY, text) == point


@pytest.mark.parametrize(
    ("text", "point"),
    [("not at all", 0), ("a little bit", 1), ("somewhat", 2), ("quite a bit", 3), ("very much", 4)],
)
def test_interference_answers(text: str, point: int) -> None:
    assert read_answer(Attribute.INTERFERENCE, text) == point


@pytest.mark.parametrize("text", ["5", "-1", "banana", "", "what do you mean", "10"])
def test_answers_that_do_not_fit(text: str) -> None:
    assert read_answer(Attribute.SEVERITY, text) is None


def test_labels() -> None:
    assert label(Attribute.SEVERITY, 3) == "severe"
    assert label(Attribute.FREQUENCY, 4) == "almost all the time"
