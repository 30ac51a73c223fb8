"""Reading answers on the PRO-CTCAE 0-4 scales."""

from __future__ import annotations

import pytest

from bot.study.pro_ctcae import SCALES, Attribute, label, read_answer


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


# --- Spanish ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "point"),
    [
        ("nada", 0),
        ("Ya se me quitó", 0),
        ("leve", 1),
        ("poquito", 1),
        ("un chin", 1),
        ("no tan fuerte", 1),
        ("moderado", 2),
        ("masomenos", 2),
        ("más o menos", 2),
        ("regular", 2),
        ("severo", 3),
        ("bien feo", 3),
        ("muy fuerte", 3),
        ("me dolió muy fuerte", 3),
        ("horrible", 3),
        ("muy severo", 4),
        ("¡Insoportable!", 4),
        ("no lo aguanto", 4),
        ("tres", 3),
        ("cuatro", 4),
        ("cero", 0),
        ("3 de 4", 3),
    ],
)
def test_severity_answers_in_spanish(text: str, point: int) -> None:
    assert read_answer(Attribute.SEVERITY, text) == point


@pytest.mark.parametrize(
    ("text", "point"),
    [
        ("nunca", 0),
        ("rara vez", 1),
        ("casi nunca", 1),
        ("algunas veces", 2),
        ("a veces", 2),
        ("de vez en cuando", 2),
        ("frecuentemente", 3),
        ("muy seguido", 3),
        ("casi todos los días", 3),
        ("casi siempre", 4),
        ("todo el tiempo", 4),
        ("a cada rato", 4),
        ("dos", 2),
    ],
)
def test_frequency_answers_in_spanish(text: str, point: int) -> None:
    assert read_answer(Attribute.FREQUENCY, text) == point


@pytest.mark.parametrize(
    ("text", "point"),
    [
        ("nada", 0),
        ("para nada", 0),
        ("un poco", 1),
        ("un poquito", 1),
        ("algo", 2),
        ("masomenos", 2),
        ("bastante", 3),
        ("sí", 3),
        ("muchísimo", 4),
        ("MUCHISIMO", 4),
        ("no pude hacer nada", 4),
        ("estuve todo el dia en cama", 4),
    ],
)
def test_interference_answers_in_spanish(text: str, point: int) -> None:
    assert read_answer(Attribute.INTERFERENCE, text) == point


@pytest.mark.parametrize("attribute", list(Attribute))
def test_spanish_words_never_change_an_english_reading(attribute: Attribute) -> None:
    english = SCALES[attribute].phrasings
    assert {text: read_answer(attribute, text) for text in english} == english
    assert read_answer(attribute, "no") == 0


@pytest.mark.parametrize("attribute", list(Attribute))
def test_every_spanish_label_reads_back_as_its_point(attribute: Attribute) -> None:
    for point, word in enumerate(SCALES[attribute].labels_es):
        assert read_answer(attribute, word) == point, word
        assert label(attribute, point, "es") == word


def test_spanish_labels_are_pro_ctcae_spanish_wording() -> None:
    assert SCALES[Attribute.SEVERITY].labels_es == (
        "nada", "leve", "moderado", "severo", "muy severo",
    )  # fmt: skip
    assert SCALES[Attribute.FREQUENCY].labels_es == (
        "nunca", "rara vez", "algunas veces", "frecuentemente", "casi siempre",
    )  # fmt: skip
    assert SCALES[Attribute.INTERFERENCE].labels_es == (
        "nada", "un poco", "algo", "bastante", "muchísimo",
    )  # fmt: skip
    assert label(Attribute.SEVERITY, 3) == "severe"
