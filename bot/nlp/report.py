"""Summarise Rasa's NLU evaluation reports: macro-F1 and the weakest labels.

`rasa test nlu --cross-validation --out DIR` writes the reports of the test folds,
accumulated over all folds, under the same names as a plain test run:
`intent_report.json` and `response_selection_report.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPORTS = {
    "Intent classification": "intent_report.json",
    "FAQ response selection": "response_selection_report.json",
}
SUMMARY_KEYS = frozenset({"accuracy", "macro avg", "weighted avg", "micro avg"})


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


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="the --out folder of `rasa test nlu`")
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
    sys.stdout.write("\n".join(lines) + "\n")

    if below:
        sys.stderr.write(f"macro-F1 below {args.min_f1}: {', '.join(below)}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
