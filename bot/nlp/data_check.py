"""`rasa data validate --fail-on-warnings`, plus a failure on every other Rasa warning.

Rasa's validator lets some real mistakes pass with only a warning (an intent whose
examples were not read, a response never used). This runs it and fails on any warning
except the two that this project's design causes on purpose.
"""

from __future__ import annotations

import subprocess
import sys

# Expected warnings: the retrieval intent `faq` is both listed in the domain and derived
# from the NLU data by Rasa; `utter_faq/<topic>` responses are sent by action_answer_faq
# (answers come from the study config), not by a rule naming `utter_faq`.
EXPECTED = (
    "duplicated intents have been found across multiple domain files: faq",
    "The utterance 'utter_faq' is not used in any story or rule.",
)
COMMAND = (
    "rasa", "data", "validate", "--config", "config.yml", "--domain", "domain",
    "--data", "data", "--fail-on-warnings",
)  # fmt: skip


def unexpected_warnings(output: str) -> list[str]:
    """The warning lines of Rasa's output that are not in EXPECTED."""
    lines = output.splitlines()
    found = []
    for index, line in enumerate(lines):
        if "UserWarning" not in line:
            continue
        text = " ".join([line, *lines[index + 1 : index + 3]])
        if not any(expected in text for expected in EXPECTED):
            found.append(text.split("UserWarning:", 1)[-1].strip())
    return found


def main() -> int:
    """Run the validation; exit 1 on failure or on an unexpected warning."""
    rasa = [sys.executable, "-m", "rasa", *COMMAND[1:]]
    result = subprocess.run(rasa, capture_output=True, text=True, check=False)  # noqa: S603
    output = result.stdout + result.stderr
    problems = unexpected_warnings(output)
    for problem in problems:
        print(f"data check: {problem}")
    if result.returncode != 0:
        print(output[-3000:])
        print("data check: rasa data validate failed")
        return 1
    print(f"data check: rasa data validate passed, {len(problems)} unexpected warning(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
