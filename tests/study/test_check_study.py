"""`trialbot check-study`: every answer present and plain, in English and Spanish."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot import cli

EXAMPLE_PATH = Path(__file__).resolve().parents[2] / "studies" / "example.yml"


def test_the_example_study_passes_in_both_languages(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["check-study", str(EXAMPLE_PATH)])

    out = capsys.readouterr().out
    assert code == 0, out
    assert "missing" not in out
    assert "entries checked in English and Spanish, 0 problem(s)" in out


def test_lists_what_has_no_spanish_and_names_hard_spanish(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hard = (
        "Las consideraciones farmacocinéticas requieren la documentación exhaustiva de los "
        "medicamentos concomitantes administrados durante el período de investigación."
    )
    config = {
        "contacts": {"coordinator": {"name": "Ana", "phone": "555-0101", "hours": "9 to 5"}},
        "faq": {"placebo": {"answer": "A placebo has no medicine in it."}},
        "wording": {"fallback": "Sorry, say that again?"},
        "wording_es": {"emergency": hard},
        "translations": {"es": {"visits": {"week_99": {"name": "Semana 99"}}}},
    }
    path = tmp_path / "study.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")

    code = cli.main(["check-study", str(path)])

    out = capsys.readouterr().out
    assert code == 1
    assert "too hard or long (es): wording_es.emergency: Fernández-Huerta" in out
    for where in (
        "faq.placebo.es.answer",
        "wording_es.fallback",
        "translations.es.contacts.coordinator.hours",
    ):
        assert f"missing in Spanish: {where}" in out
    assert "unused: translations.es.visits.week_99 (no visit has this key)" in out


def test_names_alert_levels_that_reach_nobody(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["check-study", str(EXAMPLE_PATH)])  # nurse.kim and the others: no users

    out = capsys.readouterr().out
    assert code == 1
    assert (
        "alerts: emergency alerts reach nobody in the first round (nurse.kim: not an active "
        "console user who may act)" in out
    )
    assert "alert recipients checked against the users in the database: 3 problem(s)" in out


def test_without_a_database_the_recipients_are_not_checked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = cli.main(["check-study", str(EXAMPLE_PATH)])

    assert code == 0
    assert "alert recipients not checked" in capsys.readouterr().out
