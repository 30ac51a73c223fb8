"""Shared fixtures for the spaCy pipeline tests: one fresh build per test session."""

from pathlib import Path

import pytest
from spacy.language import Language

from bot.nlp.analysis import load_pipeline
from bot.nlp.build_pipeline import build


@pytest.fixture(scope="session")
def pipeline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pipeline built from the current lexicon into a temporary folder."""
    out = tmp_path_factory.mktemp("spacy") / "trialbot_en"
    build(out)
    return out


@pytest.fixture(scope="session")
def nlp(pipeline_dir: Path) -> Language:
    """The built pipeline, loaded the way the project loads it."""
    return load_pipeline(pipeline_dir)
