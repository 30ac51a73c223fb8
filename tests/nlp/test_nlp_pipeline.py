"""Building and loading the pipeline folder (bot.nlp.build_pipeline, bot.nlp.analysis)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import pytest
import yaml
from spacy.language import Language
from spacy.tokens import Doc

from bot.nlp.analysis import RED_FLAG_CATEGORIES, load_pipeline, red_flags_in, symptoms_in
from bot.nlp.build_pipeline import (
    LEXICON_DIR,
    build,
    lexicon_entries,
    main,
    negation_config,
    parse_notation,
    phrases,
)

LOAD_SCRIPT = """
import json, sys
import spacy
before = "bot.nlp.components" in sys.modules
nlp = spacy.load(sys.argv[1])
doc = nlp("no nausea but i cant breathe")
print(json.dumps({
    "imported_before_load": before,
    "pipeline": nlp.pipe_names,
    "ents": [[e.label_, e.ent_id_] for e in doc.ents],
    "red_flags": [s.id_ for s in doc.spans["red_flags"]],
}))
"""


def test_the_folder_loads_with_plain_spacy_load(pipeline_dir: Path, tmp_path: Path) -> None:
    """A fresh process finds our factories through entry points, without importing bot."""
    result = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", LOAD_SCRIPT, str(pipeline_dir)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        timeout=120,
    )
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["imported_before_load"] is False
    assert loaded["pipeline"] == ["trialbot_spelling", "entity_ruler", "trialbot_negation"]
    assert loaded["ents"] == [["SYMPTOM", "shortness_of_breath"]]
    assert loaded["red_flags"] == ["breathing"]


def test_the_folder_does_not_need_the_lexicon(pipeline_dir: Path) -> None:
    """Everything needed at run time is inside the folder."""
    names = {p.relative_to(pipeline_dir).as_posix() for p in pipeline_dir.rglob("*")}
    assert "trialbot_spelling/spelling.json" in names
    assert "entity_ruler/patterns.jsonl" in names
    assert "pre_triggers" in (pipeline_dir / "config.cfg").read_text()


def test_the_build_is_deterministic(pipeline_dir: Path, tmp_path: Path) -> None:
    """Two builds of the same lexicon give byte-identical folders."""
    again = tmp_path / "again"
    build(again)
    files = sorted(p.relative_to(pipeline_dir) for p in pipeline_dir.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for name in files:
        assert (pipeline_dir / name).read_bytes() == (again / name).read_bytes(), name


def test_the_command_line_prints_one_summary_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m bot.nlp.build_pipeline --out DIR` builds and says so in one line."""
    assert main(["--out", str(tmp_path / "cli")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("built ")
    assert (tmp_path / "cli" / "meta.json").is_file()


def test_load_pipeline_is_cached(pipeline_dir: Path) -> None:
    """One load per folder and process."""
    assert load_pipeline(pipeline_dir) is load_pipeline(str(pipeline_dir))


def test_a_doc_from_another_pipeline_is_refused(nlp: Language) -> None:
    """Silence must never mean "no red flag": a foreign doc raises."""
    doc = Doc(nlp.vocab, words=["chest", "pain"])
    with pytest.raises(ValueError, match="not processed"):
        red_flags_in(doc)
    with pytest.raises(ValueError, match="not processed"):
        symptoms_in(doc)


def test_red_flag_categories_are_the_fixed_list() -> None:
    """Other modules rely on these names."""
    assert RED_FLAG_CATEGORIES == (
        "chest_pain",
        "breathing",
        "throat_swelling",
        "stroke",
        "fainting",
        "seizure",
        "heavy_bleeding",
        "blood_cough_vomit",
        "overdose",
        "self_harm",
        "worst_headache",
    )


def test_the_pattern_notation() -> None:
    """Alternatives, optional groups and multi-word alternatives."""
    assert list(phrases("(a|b c) d (e)?")) == ["a d e", "a d", "b c d e", "b c d"]
    assert len(parse_notation("took <many> <med> *2 now")) == 5


def test_negation_phrase_lists_use_the_pattern_notation() -> None:
    """negation.yml phrase lists expand like lexicon patterns; its settings stay as written."""
    config = negation_config()
    assert {"not anymore", "never came back", "not come back"} <= set(config["post_triggers"])
    assert config["ent_labels"] == ["SYMPTOM", "BODY_PART", "MEDICATION", "DISTRESS"]
    assert config["window"] == 4
    assert {"doctor explained", "nurse explained"} <= set(config["not_current_pre_triggers"])
    assert config["not_current_exempt"] == ["self_harm", "overdose"]


def test_an_idiom_names_a_red_flag_category_or_a_label(tmp_path: Path) -> None:
    """A misspelt idiom key would cancel nothing: the build refuses it."""
    shutil.copytree(LEXICON_DIR, tmp_path, dirs_exist_ok=True)
    (tmp_path / "idioms.yml").write_text("strok:\n  - stroke of luck\n", encoding="utf8")
    with pytest.raises(ValueError, match="strok"):
        lexicon_entries(tmp_path)


def test_a_typical_message_takes_well_under_a_few_milliseconds(nlp: Language) -> None:
    """Processing speed: the red-flag check runs on every message."""
    texts = [
        "hi its jan, was doing the dishes and now my chest feels crushed and my left arm is numb",
        "no nausea but bad headache and im so tired, threw up twice this morning",
        "ok thanks see you tuesday",
        "hola soy doña carmen, estaba lavando los trastes y de repente me dio un dolor en el pecho",
        "no tengo fiebre pero vomité 2 veces y me duele mucho la cabeza",
        "ok gracias nos vemos el martes",
    ] * 50
    nlp(texts[0])
    start = time.perf_counter()
    for text in texts:
        red_flags_in(nlp(text))
    per_message = (time.perf_counter() - start) / len(texts)
    assert per_message < 0.005, f"{per_message * 1000:.2f} ms per message"


def test_no_one_word_spanish_term_is_an_everyday_english_word() -> None:
    """A Spanish word of the lexicon never tags an English message ("pie" is not a foot)."""
    words_file = resources.files("textstat") / "resources" / "en" / "easy_words.txt"
    if not words_file.is_file():
        pytest.skip("textstat's word list is not available")
    english = set(words_file.read_text(encoding="utf8").split())
    clashes = []
    for name in ("symptoms.yml", "body_parts.yml", "medications.yml", "red_flags.yml"):
        data = yaml.safe_load((LEXICON_DIR / "es" / name).read_text(encoding="utf8"))
        for key, value in data.items():
            for notation in value["terms"] if isinstance(value, dict) else value:
                segments = parse_notation(notation)
                if len(segments) == 1 and isinstance(segments[0], tuple):
                    clashes += [(name, key, w) for w in segments[0] if w in english]
    assert clashes == []


def test_a_spanish_file_may_not_change_the_english_settings(tmp_path: Path) -> None:
    """lexicon/es/ adds patterns and cues; labels, attributes and negation settings stay."""
    shutil.copytree(LEXICON_DIR, tmp_path, dirs_exist_ok=True)
    (tmp_path / "es" / "negation.yml").write_text("window: 9\n", encoding="utf8")
    with pytest.raises(ValueError, match="window"):
        negation_config(tmp_path)
    (tmp_path / "es" / "symptoms.yml").write_text(
        "cough:\n  label: tos\n  terms: [tos]\n", encoding="utf8"
    )
    with pytest.raises(ValueError, match="cough"):
        lexicon_entries(tmp_path)
