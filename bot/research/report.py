"""A self-contained HTML report of the study's engagement figures, for a PI to open anywhere.

One file: the figures as tables and the plots as PNG embedded in base64, with the study's
name, the period and when it was made. No scripts, no fonts, no links to anything
outside the file, so it opens from a USB stick or an email attachment. Participants are
named by study ID only. Writing a report is recorded in the audit log.

    python -m bot.research.report --since YYYY-MM-DD [--until YYYY-MM-DD] [--out report.html]
"""

from __future__ import annotations

import argparse
import base64
import logging
import sys
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape
from sqlalchemy.orm import Session

from bot.core.languages import STAFF_NAMES
from bot.db.types import utcnow
from bot.research import plots
from bot.research.figures import DEFINITIONS, Period, StudyFigures, study_figures
from bot.staff import audit
from bot.staff.audit import SYSTEM_ACTOR, AuditAction
from bot.study.config import StudyConfig

logger = logging.getLogger(__name__)

NOTHING = "\N{EN DASH}"
RESPONSE_RATE_TITLE = "Check-in response rate per week"
ESCALATIONS_TITLE = "Escalations per week, by level"
SYMPTOMS_TITLE = "Symptom grades per ISO week: share of reports at each grade"


def percent(rate: float | None) -> str:
    """A rate as a whole percentage (a dash when there is none)."""
    return NOTHING if rate is None else f"{rate * 100:.0f}%"


def readable_duration(value: timedelta | None) -> str:
    """A short length of time: 45 s, 12 min, 3 h 5 min, 2 d 4 h (a dash for none)."""
    if value is None:
        return NOTHING
    seconds = max(int(value.total_seconds()), 0)
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 60:
        return f"{seconds} s"
    if minutes < 60:
        return f"{minutes} min"
    if hours < 24:
        return f"{hours} h {minutes % 60} min"
    return f"{days} d {hours % 24} h"


def number(value: float | None, digits: int = 1) -> str:
    """A number with a few decimals (a dash for none)."""
    return NOTHING if value is None else f"{value:.{digits}f}"


def utc(value: datetime | None) -> str:
    """A UTC time as people read it."""
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else NOTHING


def language_name(code: str) -> str:
    """A language code as staff read it: English, Spanish."""
    return STAFF_NAMES.get(code, code)


def data_uri(png: bytes) -> str:
    """A PNG as a data: URI, to embed in the page."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


REPORT_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ study.study.name }} engagement report, {{ f.period.label }}</title>
<style>
  body { font: 16px/1.45 system-ui, sans-serif; color: #1b1f23; margin: 0 auto;
         max-width: 60rem; padding: 1.5rem; }
  h1 { font-size: 1.6rem; margin-bottom: .2rem; }
  h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de; }
  .meta { color: #57606a; }
  table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
  th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #d0d7de; }
  th { background: #eaeef2; font-size: .9rem; }
  td.n, th.n { text-align: right; }
  img { max-width: 100%; height: auto; display: block; margin: .5rem 0; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; }
  dt { font-weight: 600; }
  dd { margin: 0; }
  @media print { h2 { break-after: avoid; } img, table { break-inside: avoid; } }
</style>
</head>
<body>
<h1>{{ study.study.name }}: engagement and retention</h1>
<p>{{ study.study.title }}</p>
<p class="meta">Period: {{ f.period.label }}.
Made {{ f.computed_at | utc }}. Participants are named by study ID only.
Test traffic (web-chat visitors) is
{% if f.include_test %}included{% else %}left out{% endif %}.</p>

<h2>Summary</h2>
<table>
<tbody>
<tr><th>Participants enrolled</th><td class="n">{{ f.enrolled }}</td>
    <td>{{ f.active }} active now</td></tr>
<tr><th>Check-in response rate</th><td class="n">{{ f.response.rate | percent }}</td>
    <td>{{ f.response.answered }} of {{ f.response.decided }} prompts answered
    ({{ f.response.sent }} sent, {{ f.response.pending }} still open)</td></tr>
<tr><th>Median time to reply</th><td class="n">{{ f.median_reply | duration }}</td><td></td></tr>
<tr><th>Adherence</th><td class="n">{{ f.adherence.rate | percent }}</td>
    <td>{{ f.adherence.taken }} of {{ f.adherence.reports }} dose reports "yes"
    ({{ f.adherence.some }} "some", {{ f.adherence.not_taken }} "no")</td></tr>
<tr><th>Longest missed streak</th><td class="n">{{ f.longest_streak }}</td>
    <td>check-ins missed in a row, any participant</td></tr>
<tr><th>At risk now</th><td class="n">{{ f.at_risk | length }}</td>
    <td>{{ f.at_risk | map(attribute="study_id") | join(", ") }}</td></tr>
<tr><th>Opted out</th><td class="n">{{ f.departures.opted_out_in_period | length }}</td>
    <td>in the period {{ f.departures.opted_out_in_period | join(", ") }};
    {{ f.departures.opted_out_now }} opted out now</td></tr>
<tr><th>Withdrawn</th><td class="n">{{ f.departures.withdrawn_now | length }}</td>
    <td>now {{ f.departures.withdrawn_now | join(", ") }};
    {{ f.departures.withdrawal_requests }} withdrawal requests in the period</td></tr>
<tr><th>Feedback</th><td class="n">{{ f.ratings.mean | number }}</td>
    <td>mean of {{ f.ratings.count }} ratings (1-5),
    median {{ f.ratings.median | number }}</td></tr>
</tbody>
</table>

<h2>By language</h2>
<table>
<thead><tr><th>Language</th><th class="n">Enrolled</th><th class="n">Active</th>
<th class="n">Response rate</th><th class="n">Answered</th><th class="n">Median reply</th>
<th class="n">Adherence</th><th class="n">Opted out</th><th class="n">At risk</th>
<th class="n">Escalations</th><th class="n">Symptom reports</th></tr></thead>
<tbody>
{% for row in f.by_language %}
<tr><td>{{ row.name }}</td><td class="n">{{ row.enrolled }}</td><td class="n">{{ row.active }}</td>
<td class="n">{{ row.response.rate | percent }}</td>
<td class="n">{{ row.response.answered }}/{{ row.response.decided }}</td>
<td class="n">{{ row.median_reply | duration }}</td>
<td class="n">{{ row.adherence.rate | percent }}</td>
<td class="n">{{ row.opted_out }}</td><td class="n">{{ row.at_risk }}</td>
<td class="n">{{ row.escalations }}</td><td class="n">{{ row.symptom_reports }}</td></tr>
{% endfor %}
</tbody>
</table>

<h2>Check-in response rate</h2>
<img alt="{{ alts.response }}" src="{{ images.response }}" width="900">
<p class="note">{{ figure_notes.response }}</p>

<h2>Escalations</h2>
<table>
<thead><tr><th>Level</th><th class="n">Raised</th><th class="n">Acknowledged</th>
<th class="n">Median time to acknowledge</th><th class="n">Within target</th>
<th class="n">Open now</th></tr></thead>
<tbody>
{% for row in f.escalations %}
<tr><td>{{ row.level.value }}</td><td class="n">{{ row.raised }}</td>
<td class="n">{{ row.acknowledged }}</td>
<td class="n">{{ row.median_time_to_acknowledge | duration }}</td>
<td class="n">{{ row.within_target }} (target {{ row.target | duration }})</td>
<td class="n">{{ row.open_now }}</td></tr>
{% endfor %}
</tbody>
</table>
<img alt="{{ alts.escalations }}" src="{{ images.escalations }}" width="900">
<p class="note">{{ figure_notes.escalations }}</p>

<h2>Symptoms</h2>
<img alt="{{ alts.symptoms }}" src="{{ images.symptoms }}" width="900">
<p class="note">{{ figure_notes.symptoms }}</p>

<h2>Participants</h2>
<table>
<thead><tr><th>Study ID</th><th>Channel</th><th>Language</th><th>Status</th>
<th class="n">Response rate</th>
<th class="n">Answered</th><th class="n">Median reply</th><th class="n">Longest missed</th>
<th class="n">Current missed</th><th class="n">Adherence</th><th class="n">Symptom reports</th>
<th class="n">Escalations</th><th>Flags</th></tr></thead>
<tbody>
{% for row in f.participants %}
<tr><td>{{ row.study_id }}</td><td>{{ row.channel.value }}</td>
<td>{{ row.language | language }}</td><td>{{ row.status.value }}</td>
<td class="n">{{ row.response.rate | percent }}</td>
<td class="n">{{ row.response.answered }}/{{ row.response.decided }}</td>
<td class="n">{{ row.median_reply | duration }}</td>
<td class="n">{{ row.streaks.longest }}</td><td class="n">{{ row.streaks.current }}</td>
<td class="n">{{ row.adherence.rate | percent }}</td>
<td class="n">{{ row.symptom_reports }}</td><td class="n">{{ row.escalations }}</td>
<td>{% if row.at_risk %}at risk {% endif %}{% if row.opted_out %}opted out{% endif %}</td></tr>
{% endfor %}
</tbody>
</table>

<h2>Definitions</h2>
<dl>
{% for name, text in definitions %}<dt>{{ name }}</dt><dd>{{ text }}</dd>
{% endfor %}
</dl>
<p class="meta">All times are UTC; weeks are ISO weeks (Monday to Sunday, UTC).
Test traffic (web-chat visitors) is {{ "included" if f.include_test else "left out" }}.</p>
</body>
</html>
"""


def _environment() -> Environment:
    """A Jinja environment that escapes HTML and knows the report's filters."""
    environment = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    environment.filters.update(
        percent=percent,
        duration=readable_duration,
        number=number,
        utc=utc,
        language=language_name,
    )
    return environment


def render_report(*, figures: StudyFigures, study: StudyConfig) -> str:
    """The report's HTML for figures already computed."""
    name = study.study.name
    framed: dict[str, Any] = {"period": figures.period, "include_test": figures.include_test}
    images = {
        "response": data_uri(
            plots.response_rate_png(
                figures.weekly_response, title=f"{name}: {RESPONSE_RATE_TITLE}", **framed
            )
        ),
        "escalations": data_uri(
            plots.escalations_png(
                figures.weekly_escalations, title=f"{name}: {ESCALATIONS_TITLE}", **framed
            )
        ),
        "symptoms": data_uri(
            plots.grade_distribution_png(
                figures.weekly_grades, title=f"{name}: {SYMPTOMS_TITLE}", **framed
            )
        ),
    }
    template = _environment().from_string(REPORT_TEMPLATE)
    return template.render(
        f=figures,
        study=study,
        images=images,
        definitions=DEFINITIONS,
        alts={
            "response": plots.response_alt(figures.weekly_response),
            "escalations": plots.escalations_alt(figures.weekly_escalations),
            "symptoms": plots.grades_alt(figures.weekly_grades),
        },
        figure_notes=plots.FIGURE_NOTES,
    )


def write_report(
    *,
    session: Session,
    study: StudyConfig,
    period: Period,
    out: Path,
    now: datetime,
    actor: str = SYSTEM_ACTOR,
    include_test: bool = False,
) -> StudyFigures:
    """Compute the figures, write the report to `out`, and record it in the audit log.

    Test traffic (web-chat visitors) is left out unless `include_test`.
    """
    figures = study_figures(
        session=session, period=period, now=now, study=study, include_test=include_test
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(figures=figures, study=study), encoding="utf-8")
    audit.record(
        session=session,
        actor=actor,
        action=AuditAction.REPORT_WRITTEN,
        detail=f"engagement report, {period.label}, {len(figures.participants)} participants"
        + (", test traffic included" if include_test else ""),
    )
    logger.info("report for %s written (%s participants)", period.label, len(figures.participants))
    return figures


def _day_argument(text: str) -> date:
    """A YYYY-MM-DD argument."""
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from error


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m bot.research.report`."""
    parser = argparse.ArgumentParser(
        prog="trialbot report", description="Write the study's engagement report as one HTML file."
    )
    parser.add_argument(
        "--since", type=_day_argument, required=True, help="first day (UTC), YYYY-MM-DD"
    )
    parser.add_argument("--until", type=_day_argument, help="last day (UTC), included; default now")
    parser.add_argument("--out", type=Path, default=Path("report.html"), help="the HTML file")
    parser.add_argument(
        "--include-test",
        action="store_true",
        help="count test traffic (web-chat visitors) too; left out by default",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Write the report from the command line; 0 on success."""
    from bot.db.session import session_scope
    from bot.study.config import current_study

    parser = build_parser()
    args = parser.parse_args(argv)
    now = utcnow()
    try:
        period = Period.from_dates(args.since, args.until, now=now)
    except ValueError as error:
        parser.error(str(error))
    with session_scope() as session:
        write_report(
            session=session,
            study=current_study(),
            period=period,
            out=args.out,
            now=now,
            include_test=args.include_test,
        )
    sys.stdout.write(f"Report for {period.label} written to {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
