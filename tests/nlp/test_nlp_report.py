"""`make eval`'s summary (bot.nlp.report): macro-F1 overall and per language, from the
per-example predictions of one cross-validation split by the language of each example's
NLU file. A small fixture stands in for Rasa's output; no model is trained.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from sklearn.metrics import f1_score

from bot.nlp.report import (
    Prediction,
    classification_report,
    example_languages,
    file_language,
    main,
)

ENGLISH_NLU = """version: "3.1"
nlu:
- intent: greet
  examples: |
    - hi
    - hello
    - ok
- intent: faq/placebo
  examples: |
    - what is a [placebo](MEDICATION)
    - is it a fake pill
"""
SPANISH_NLU = """version: "3.1"
nlu:
- intent: greet
  examples: |
    - hola
    - buenas
    - ok
- intent: faq/placebo
  examples: |
    - q es un placebo
    - es una pastilla falsa
"""
# (text, target, predicted): what Rasa's cross-validation predicted for each example.
INTENTS = [
    ("hi", "greet", "greet"),
    ("hello", "greet", "greet"),
    ("ok", "greet", "greet"),
    ("what is a placebo", "faq", "faq"),
    ("is it a fake pill", "faq", "faq"),
    ("hola", "greet", "greet"),
    ("buenas", "greet", "faq"),
    ("q es un placebo", "faq", "faq"),
    ("es una pastilla falsa", "faq", "greet"),
]
FAQ = [
    ("what is a placebo", "faq/placebo", "faq/placebo"),
    ("is it a fake pill", "faq/placebo", "faq/placebo"),
    ("q es un placebo", "faq/placebo", "faq/placebo"),
    ("es una pastilla falsa", "faq/placebo", "faq/privacy"),
]


def rasa_rows(rows: list[tuple[str, str, str]], target: str, prediction: str) -> list[dict]:
    return [
        {"text": text, target: label, prediction: {"name": predicted, "confidence": 0.9}}
        for text, label, predicted in rows
    ]


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")


def rasa_report(rows: list[tuple[str, str, str]]) -> dict:
    return classification_report([Prediction(*row) for row in rows])


@pytest.fixture
def nlu(tmp_path: Path) -> Path:
    folder = tmp_path / "nlu"
    (folder / "es").mkdir(parents=True)
    (folder / "care.yml").write_text(ENGLISH_NLU, encoding="utf-8")
    (folder / "es" / "care.yml").write_text(SPANISH_NLU, encoding="utf-8")
    return folder


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """A `rasa test nlu --cross-validation --successes` output folder."""
    folder = tmp_path / "cv"
    folder.mkdir()
    write_json(folder / "intent_report.json", rasa_report(INTENTS))
    write_json(folder / "response_selection_report.json", rasa_report(FAQ))
    for rows, stem, target, prediction in (
        (INTENTS, "intent", "intent", "intent_prediction"),
        (
            FAQ,
            "response_selection",
            "intent_response_key_target",
            "intent_response_key_prediction",
        ),
    ):
        right = [row for row in rows if row[1] == row[2]]
        wrong = [row for row in rows if row[1] != row[2]]
        write_json(folder / f"{stem}_successes.json", rasa_rows(right, target, prediction))
        write_json(folder / f"{stem}_errors.json", rasa_rows(wrong, target, prediction))
    return folder


def test_an_examples_language_is_its_files(nlu: Path) -> None:
    assert file_language(nlu / "care.yml", nlu) == "en"
    assert file_language(nlu / "es" / "care.yml", nlu) == "es"
    languages = example_languages(nlu)
    assert languages["what is a placebo"] == {"en"}  # entity annotation read as Rasa reads it
    assert languages["q es un placebo"] == {"es"}
    assert languages["ok"] == {"en", "es"}


def test_the_macro_f1_is_rasas(results: Path) -> None:
    rng = random.Random(7)
    labels = ["greet", "faq", "deny", "emergency"]
    rows = [
        Prediction(f"t{index}", rng.choice(labels), rng.choice([*labels, "nlu_fallback"]))
        for index in range(300)
    ]
    targets = [row.target for row in rows]
    predicted = [row.predicted for row in rows]

    report = classification_report(rows)

    expected = f1_score(targets, predicted, labels=sorted(set(targets)), average="macro")
    assert report["macro avg"]["f1-score"] == pytest.approx(expected)
    assert report["macro avg"]["support"] == 300


def test_make_eval_prints_english_and_spanish_side_by_side(
    results: Path, nlu: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(results), "--nlu", str(nlu)]) == 0

    out = capsys.readouterr().out
    # English: greet 3/3, faq 2/2 -> 1.0. Spanish greet (hola, ok right; buenas wrong):
    # greet F1 2*2/(2*2+1+1) = 0.667, faq (1 right, 1 wrong, 1 false) 0.5 -> 0.583; FAQ:
    # only faq/placebo has examples, 1 of 2 right -> 2/3 (faq/privacy is not averaged).
    assert out.splitlines()[-1] == (
        "English: intent macro-F1 1.000 (n=5), FAQ macro-F1 1.000 (n=2) | "
        "Spanish: intent macro-F1 0.583 (n=5), FAQ macro-F1 0.667 (n=2)"
    )
    assert "Spanish intent classification: macro-F1 0.583" in out
    assert "intent: 1 examples in more than one language (counted in each)" in out
    assert out.startswith("Intent classification: macro-F1")


def test_a_language_below_the_bar_fails(
    results: Path, nlu: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(results), "--nlu", str(nlu), "--min-f1", "0.6"]) == 1

    assert capsys.readouterr().err == "macro-F1 below 0.6: Spanish intent\n"


def test_without_the_per_example_predictions_it_says_what_to_run(
    results: Path, nlu: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in results.glob("*_successes.json"):
        path.unlink()
    for path in results.glob("*_errors.json"):
        path.unlink()

    assert main([str(results), "--nlu", str(nlu)]) == 2
    assert "--successes" in capsys.readouterr().err


def test_without_the_nlu_folder_only_the_overall_figures(
    results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(results)]) == 0

    out = capsys.readouterr().out
    assert "Spanish" not in out and "FAQ response selection: macro-F1" in out
