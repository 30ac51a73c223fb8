"""Summarise Rasa's NLU evaluation reports: macro-F1 and the weakest labels, per language.

`rasa test nlu --cross-validation --out DIR` writes the reports of the test folds,
accumulated over all folds, under the same names as a plain test run:
`intent_report.json` and `response_selection_report.json`. With `--successes` it also
writes every test example's prediction (`*_successes.json`, `*_errors.json`).

One model serves both languages, so one cross-validation runs on all the NLU data. Given
the NLU folder (`--nlu data/nlu`), each example's prediction is put with the language of
the file it came from (a file under a folder named after a language code, such as
`data/nlu/es/`, is in that language; any other file is English), and the macro-F1 of
each language is computed the way Rasa computes it: the mean F1 over the labels that
have test examples in that language. A text written the same in two languages ("ok")
counts in both.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.languages import DEFAULT_LANGUAGE, LANGUAGES, STAFF_NAMES

REPORTS = {
    "Intent classification": "intent_report.json",
    "FAQ response selection": "response_selection_report.json",
}
SUMMARY_KEYS = frozenset({"accuracy", "macro avg", "weighted avg", "micro avg"})


@dataclass(frozen=True)
class PredictionFiles:
    """Where `rasa test nlu --successes` writes one task's predictions, and their keys."""

    title: str
    short: str
    files: tuple[str, str]
    target: str
    prediction: str


TASKS = (
    PredictionFiles(
        "intent classification",
        "intent",
        ("intent_successes.json", "intent_errors.json"),
        "intent",
        "intent_prediction",
    ),
    PredictionFiles(
        "FAQ response selection",
        "FAQ",
        ("response_selection_successes.json", "response_selection_errors.json"),
        "intent_response_key_target",
        "intent_response_key_prediction",
    ),
)


@dataclass(frozen=True)
class LabelScore:
    """The F1 of one label and the label it is most often mistaken for."""

    label: str
    f1: float
    support: int
    confused_with: str | None
    confused_count: int


def load_report(path: Path) -> dict[str, Any]:
    """Read one classification report written by `rasa test nlu`."""
    report = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(report, dict) or "macro avg" not in report:
        raise ValueError(f"{path} is not a Rasa classification report")
    return report


def label_scores(report: Mapping[str, Any]) -> list[LabelScore]:
    """Score every label that has test examples, weakest first."""
    scores = []
    for label, row in report.items():
        if label in SUMMARY_KEYS or not isinstance(row, dict) or not row.get("support"):
            continue
        confusions: Mapping[str, int] = row.get("confused_with") or {}
        top = max(confusions, key=lambda other: confusions[other], default=None)
        scores.append(
            LabelScore(
                label=label,
                f1=float(row["f1-score"]),
                support=int(row["support"]),
                confused_with=top,
                confused_count=confusions[top] if top is not None else 0,
            )
        )
    return sorted(scores, key=lambda score: (score.f1, score.label))


def format_report(title: str, report: Mapping[str, Any], weakest: int) -> list[str]:
    """Lines giving a report's macro-F1 and its weakest labels."""
    macro = report["macro avg"]
    lines = [
        f"{title}: macro-F1 {macro['f1-score']:.3f} "
        f"(accuracy {float(report.get('accuracy', 0.0)):.3f}, n={int(macro['support'])})",
        f"  weakest {weakest}:",
    ]
    for score in label_scores(report)[:weakest]:
        confusion = (
            f"most often taken for {score.confused_with} ({score.confused_count}x)"
            if score.confused_with
            else "no confusion"
        )
        lines.append(f"    {score.label:<28} F1 {score.f1:.3f}  n={score.support:<4} {confusion}")
    return lines


# --- per language ---------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    """One test example: its text, its label and what the model predicted."""

    text: str
    target: str
    predicted: str


def load_predictions(results: Path, task: PredictionFiles) -> list[Prediction] | None:
    """Every test example's prediction for a task; None when Rasa wrote none (no --successes)."""
    paths = [results / name for name in task.files]
    if not any(path.is_file() for path in paths):
        return None
    predictions = []
    for path in paths:
        if not path.is_file():
            continue  # every example right (no errors file), or every one wrong
        for row in json.loads(path.read_text(encoding="utf-8")):
            predicted = row.get(task.prediction) or {}
            predictions.append(
                Prediction(
                    text=str(row.get("text") or ""),
                    target=str(row.get(task.target) or ""),
                    predicted=str(predicted.get("name") or ""),
                )
            )
    return predictions


def file_language(path: Path, nlu_dir: Path) -> str:
    """The language of an NLU file: a folder named after a language code says it."""
    folders = path.relative_to(nlu_dir).parts[:-1]
    return next((part for part in folders if part in LANGUAGES), DEFAULT_LANGUAGE)


def example_languages(nlu_dir: Path) -> dict[str, set[str]]:
    """The languages each NLU example text is written in, from the files it is in."""
    from rasa.shared.nlu.training_data.loading import load_data

    languages: dict[str, set[str]] = defaultdict(set)
    for path in sorted(nlu_dir.rglob("*.yml")):
        language = file_language(path, nlu_dir)
        for example in load_data(str(path)).nlu_examples:
            languages[str(example.get("text") or "").strip()].add(language)
    return dict(languages)


def classification_report(predictions: Iterable[Prediction]) -> dict[str, Any]:
    """A report shaped like Rasa's (per label, "macro avg", "accuracy") for some examples.

    As Rasa's: F1 per label that has test examples, the macro average over those labels.
    """
    rows = list(predictions)
    support = Counter(row.target for row in rows)
    predicted = Counter(row.predicted for row in rows)
    right = Counter(row.target for row in rows if row.target == row.predicted)
    confused: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        if row.target != row.predicted:
            confused[row.target][row.predicted] += 1
    report: dict[str, Any] = {}
    for label in sorted(support):
        hits, wrongly = right[label], predicted[label] - right[label]
        precision = hits / predicted[label] if predicted[label] else 0.0
        recall = hits / support[label]
        report[label] = {
            "precision": precision,
            "recall": recall,
            "f1-score": 2 * hits / (2 * hits + wrongly + support[label] - hits),
            "support": support[label],
            "confused_with": dict(confused[label].most_common()),
        }
    labels = [report[label] for label in sorted(support)]
    report["macro avg"] = {
        key: sum(row[key] for row in labels) / len(labels) if labels else 0.0
        for key in ("precision", "recall", "f1-score")
    } | {"support": len(rows)}
    report["accuracy"] = sum(right.values()) / len(rows) if rows else 0.0
    return report


@dataclass(frozen=True)
class LanguageSplit:
    """A task's predictions by language, and the examples that could not be placed surely."""

    predictions: dict[str, list[Prediction]]
    # Texts found in no NLU file (counted as the default language).
    unknown: int
    # Texts written the same in more than one language (counted in each).
    shared: int

    def reports(self) -> dict[str, dict[str, Any]]:
        """A report per language (in the order of LANGUAGES)."""
        return {
            language: classification_report(rows) for language, rows in self.predictions.items()
        }


def split_by_language(
    predictions: Sequence[Prediction], languages: Mapping[str, set[str]]
) -> LanguageSplit:
    """Each prediction with the language(s) of the files its text is in."""
    split: dict[str, list[Prediction]] = {language: [] for language in LANGUAGES}
    unknown = shared = 0
    for row in predictions:
        found = languages.get(row.text.strip())
        unknown += found is None
        shared += bool(found) and len(found or ()) > 1
        for language in found or {DEFAULT_LANGUAGE}:
            split[language].append(row)
    return LanguageSplit(split, unknown, shared)


def language_summary(by_task: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """One line: "English: intent macro-F1 x (n=…), FAQ macro-F1 y (n=…) | Spanish: …"."""
    parts = []
    for language in LANGUAGES:
        scores = []
        for task, reports in by_task.items():
            macro = reports[language]["macro avg"]
            scores.append(
                f"{task} macro-F1 {macro['f1-score']:.3f} (n={int(macro['support'])})"
                if macro["support"]
                else f"{task}: no examples"
            )
        parts.append(f"{STAFF_NAMES[language]}: {', '.join(scores)}")
    return " | ".join(parts)


def language_lines(
    results: Path, nlu_dir: Path, weakest: int
) -> tuple[list[str], dict[str, dict[str, dict[str, Any]]]]:
    """The per-language figures (lines to print) and the reports, by task and language."""
    predictions = {task.short: load_predictions(results, task) for task in TASKS}
    if any(rows is None for rows in predictions.values()):
        raise FileNotFoundError(
            f"no per-example predictions in {results}: run `rasa test nlu` with --successes"
        )
    languages = example_languages(nlu_dir)
    splits = {task: split_by_language(rows or [], languages) for task, rows in predictions.items()}
    by_task = {task: split.reports() for task, split in splits.items()}
    lines = ["", f"By language (the language of each example's file under {nlu_dir}):"]
    for short, split in splits.items():
        if split.unknown or split.shared:
            lines.append(
                f"  {short}: {split.shared} examples in more than one language (counted in "
                f"each), {split.unknown} found in no file (counted as "
                f"{STAFF_NAMES[DEFAULT_LANGUAGE]})"
            )
    for files in TASKS:
        for language in LANGUAGES:
            report = by_task[files.short][language]
            if report["macro avg"]["support"]:
                title = f"{STAFF_NAMES[language]} {files.title}"
                lines.extend(format_report(title, report, weakest))
    lines.extend(["", language_summary(by_task)])
    return lines, by_task


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="the --out folder of `rasa test nlu`")
    parser.add_argument(
        "--nlu",
        type=Path,
        default=None,
        help="the NLU data folder the examples came from: adds the figures per language",
    )
    parser.add_argument("--weakest", type=int, default=5, help="how many weak labels to list")
    parser.add_argument(
        "--min-f1",
        type=float,
        default=None,
        help="exit with status 1 when a macro-F1 is below this value",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the summary; non-zero when a report is missing or below --min-f1."""
    args = parse_args(argv)
    missing = [name for name in REPORTS.values() if not (args.results / name).is_file()]
    if missing:
        sys.stderr.write(f"missing in {args.results}: {', '.join(missing)}\n")
        return 2

    lines: list[str] = []
    below: list[str] = []
    for title, name in REPORTS.items():
        report = load_report(args.results / name)
        lines.extend(format_report(title, report, args.weakest))
        if args.min_f1 is not None and report["macro avg"]["f1-score"] < args.min_f1:
            below.append(title)
    if args.nlu is not None:
        try:
            more, by_task = language_lines(args.results, args.nlu, args.weakest)
        except FileNotFoundError as error:
            sys.stderr.write(f"{error}\n")
            return 2
        lines.extend(more)
        for task, reports in by_task.items():
            for language, report in reports.items():
                macro = report["macro avg"]
                if args.min_f1 is not None and macro["support"] and macro["f1-score"] < args.min_f1:
                    below.append(f"{STAFF_NAMES[language]} {task}")
    sys.stdout.write("\n".join(lines) + "\n")

    if below:
        sys.stderr.write(f"macro-F1 below {args.min_f1}: {', '.join(below)}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
