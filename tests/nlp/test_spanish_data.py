"""The Spanish NLU data (data/nlu/es/) covers the whole taxonomy at least as well as English."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml

from bot.core.settings import PROJECT_ROOT

NLU = PROJECT_ROOT / "data" / "nlu"


def examples(files: list[Path]) -> dict[str, list[str]]:
    """Examples per intent (faq/<topic> counted per topic)."""
    found: dict[str, list[str]] = {}
    for path in files:
        for item in yaml.safe_load(path.read_text(encoding="utf8"))["nlu"]:
            if "intent" not in item:
                continue
            lines = [line.strip()[2:] for line in item["examples"].splitlines()]
            found.setdefault(item["intent"], []).extend(line for line in lines if line)
    return found


ENGLISH = examples(sorted(NLU.glob("*.yml")))
SPANISH = examples(sorted((NLU / "es").glob("*.yml")))


def test_every_intent_and_faq_topic_has_spanish_examples_at_least_as_many_as_english() -> None:
    short = {
        intent: (len(SPANISH.get(intent, [])), len(texts))
        for intent, texts in ENGLISH.items()
        if len(SPANISH.get(intent, [])) < len(texts)
    }
    assert not short, f"Spanish has fewer examples (Spanish, English): {short}"
    assert set(SPANISH) == set(ENGLISH)
    assert sum(intent.startswith("faq/") for intent in SPANISH) == 21


def test_no_spanish_example_is_written_twice_or_also_under_english() -> None:
    spanish = [text.lower() for texts in SPANISH.values() for text in texts]
    english = {text.lower() for texts in ENGLISH.values() for text in texts}
    twice = [text for text, count in Counter(spanish).items() if count > 1]
    assert not twice
    assert not set(spanish) & english
