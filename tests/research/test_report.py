"""The HTML report: one self-contained file with the figures and the plots embedded."""

from __future__ import annotations

import base64
import re
from datetime import date, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import AuditEvent, Participant
from bot.demo import simulation as demo_data
from bot.participants.enrollment import address_of
from bot.research.figures import Period
from bot.research.report import main, percent, readable_duration, render_report, write_report
from bot.study.config import current_study
from tests.staff.conftest import staff_keys

__all__ = ["staff_keys"]

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=timezone.utc)
PERIOD = Period.from_dates(date(2025, 2, 10), date(2025, 3, 19), now=NOW)


class References(HTMLParser):
    """Every URL-bearing attribute and every tag of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in {"src", "href", "action", "srcset", "poster", "data"} and value:
                self.urls.append((tag, name, value))


@pytest.fixture
def html(session: Session, tmp_path: Path) -> str:
    """The report on the demo data, as written to a file."""
    demo_data.seed(session=session, study=current_study(), now=NOW)
    session.commit()
    out = tmp_path / "reports" / "report.html"
    write_report(session=session, study=current_study(), period=PERIOD, out=out, now=NOW)
    session.commit()
    return out.read_text(encoding="utf-8")


def test_the_report_is_self_contained(html: str) -> None:
    page = References()
    page.feed(html)

    assert not {"script", "link", "iframe", "object", "embed"} & set(page.tags)
    assert [url for _, _, url in page.urls if not url.startswith("data:image/png;base64,")] == []
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html)
    assert not re.search(r"https?:|//[a-z]|url\(|@import", text)


def test_the_plots_are_embedded_pngs(html: str) -> None:
    page = References()
    page.feed(html)

    images = [url for tag, name, url in page.urls if tag == "img" and name == "src"]
    assert len(images) == 3
    for url in images:
        png = base64.b64decode(url.removeprefix("data:image/png;base64,"), validate=True)
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert 'alt="Line chart of the check-in response rate per ISO week: 2025-W07' in html
    assert 'alt="Stacked 100% bars of the share of symptom reports at each grade' in html
    assert "n = reports above each bar" in html  # the definition, as text beside the plot


def test_the_report_names_the_study_the_period_and_when_it_was_made(html: str) -> None:
    assert "<h1>BREATHE-24: engagement and retention</h1>" in html
    assert "Period: 2025-02-10 to 2025-03-19 (UTC)." in html
    assert "Made 2025-03-20 12:00 UTC." in html
    assert "Definitions" in html and "Response rate" in html


def test_the_report_shows_the_figures_by_study_id_only(session: Session, html: str) -> None:
    participants = list(session.execute(select(Participant)).scalars())

    assert len(participants) == 12
    for participant in participants:
        assert f"<td>{participant.study_id}</td>" in html
        address = address_of(participant)
        assert address and address not in html and address.lstrip("+") not in html
    assert "DEMO-004" in html.split("At risk now")[1].split("</tr>")[0]
    for level in ("emergency", "urgent", "routine"):
        assert f"<tr><td>{level}</td>" in html


def test_writing_a_report_is_audited(session: Session, html: str) -> None:
    events = list(
        session.execute(select(AuditEvent).where(AuditEvent.action == "report.write")).scalars()
    )

    assert [(event.actor, event.detail) for event in events] == [
        ("system", "engagement report, 2025-02-10 to 2025-03-19 (UTC), 12 participants")
    ]


def test_the_command_line_writes_the_report(session: Session, tmp_path: Path) -> None:
    out = tmp_path / "pi.html"

    assert main(["--since", "2025-01-01", "--until", "2025-01-31", "--out", str(out)]) == 0

    content = out.read_text(encoding="utf-8")
    assert "Period: 2025-01-01 to 2025-01-31 (UTC)." in content
    assert content.count("data:image/png;base64,") == 3
    with pytest.raises(SystemExit):
        main(["--since", "2025-02-01", "--until", "2025-01-01"])


def test_an_empty_study_still_makes_a_report(session: Session) -> None:
    from bot.research.figures import study_figures

    figures = study_figures(session=session, period=PERIOD, now=NOW, study=current_study())

    html = render_report(figures=figures, study=current_study())

    assert "No data in this period" not in html  # the note is drawn in the image, not the text
    assert html.count("data:image/png;base64,") == 3
    assert ">0</td>" in html


def test_formatting() -> None:
    assert percent(None) == "\N{EN DASH}"
    assert percent(2 / 3) == "67%"
    assert readable_duration(timedelta(seconds=42)) == "42 s"
    assert readable_duration(timedelta(minutes=75)) == "1 h 15 min"
    assert readable_duration(timedelta(hours=50)) == "2 d 2 h"
    assert readable_duration(None) == "\N{EN DASH}"


def test_the_report_splits_the_figures_by_language(session: Session, tmp_path: Path) -> None:
    demo_data.seed(session=session, study=current_study(), now=NOW)
    # The demo has two Spanish speakers (DEMO-006 and DEMO-008).
    spanish = session.execute(
        select(Participant).where(Participant.study_id == "DEMO-006")
    ).scalar_one()
    out = tmp_path / "report.html"

    figures = write_report(session=session, study=current_study(), period=PERIOD, out=out, now=NOW)
    html = out.read_text(encoding="utf-8")

    table = html.split("<h2>By language</h2>")[1].split("</table>")[0]
    assert [row.name for row in figures.by_language] == ["English", "Spanish"]
    assert '<tr><td>English</td><td class="n">10</td>' in table
    assert '<tr><td>Spanish</td><td class="n">2</td>' in table
    assert f"<td>{spanish.study_id}</td><td>{spanish.channel.value}</td>\n<td>Spanish</td>" in html
