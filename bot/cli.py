"""The `trialbot` command line: run the whole assistant, migrate the database, check the study."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.core.languages import DEFAULT_LANGUAGE, LANGUAGES
from bot.core.logs import configure_logging
from bot.core.settings import SettingsError, get_settings
from bot.core.worker import add_arguments as add_worker_arguments
from bot.study.config import StudyConfig, StudyConfigError, load_study_config

Handler = Callable[[argparse.Namespace], int]
# The processes of the assistant (bot.supervisor.process_commands), for `trialbot serve`.
PROCESS_NAMES = ("rasa", "actions", "web", "worker", "alerts")


def _run(args: argparse.Namespace) -> int:
    # The CLI is the one place that knows the demo: it seeds before the start (SQLite
    # only) and replays the demo's messages through the model once Rasa answers.
    from bot.demo.conversations import replay_when_ready
    from bot.demo.seed import prepare_demo
    from bot.supervisor import run

    return run(get_settings(), prepare=prepare_demo, when_ready=replay_when_ready)


def _serve(args: argparse.Namespace) -> int:
    from bot.supervisor import serve

    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra
    try:
        serve(get_settings(), args.process, extra)
    except ValueError as error:
        print(f"trialbot serve: {error}", file=sys.stderr)
        return 2
    return 0  # not reached: serve replaces this process


def _migrate(args: argparse.Namespace) -> int:
    from bot.db.session import migrate

    migrate()
    print("database schema is up to date")
    return 0


def _check_study(args: argparse.Namespace) -> int:
    from bot.core.languages import ENGLISH, SPANISH
    from bot.study.plain_language import check_text

    path = Path(args.path) if args.path else get_settings().study_config
    study = load_study_config(path)
    entries = _study_texts(study, ENGLISH) + _study_texts(study, SPANISH)
    problems = 0
    for language, key, texts in entries:
        if not texts and language == ENGLISH:
            print(f"missing: {key} (participants get a generic answer)")
        for text in texts:
            result = check_text(text, language)
            if not result.ok:
                problems += 1
                print(f"too hard or long ({language}): {key}: {result.problem()}: {text!r}")
    for where in study.missing_translations(SPANISH):
        print(f"missing in Spanish: {where} (Spanish participants get a general Spanish text)")
    for where in study.unused_translations():
        print(f"unused: {where} (no visit has this key)")
    print(f"{path}: {len(entries)} entries checked in English and Spanish, {problems} problem(s)")
    alert_problems = _alert_recipient_problems(study)
    return 1 if problems or alert_problems else 0


def _alert_recipient_problems(study: StudyConfig) -> int:
    """Print each alert level that reaches nobody (bot.alerts.coverage); how many."""
    from sqlalchemy import inspect

    from bot.alerts.coverage import alert_coverage_problems
    from bot.db.session import get_engine, session_scope

    settings = get_settings()
    if not inspect(get_engine(settings.database_url)).has_table("staff_users"):
        print("alert recipients not checked: the database has no users yet (trialbot migrate)")
        return 0
    with session_scope(settings.database_url) as session:
        problems = alert_coverage_problems(session=session, study=study, settings=settings)
    for problem in problems:
        print(f"alerts: {problem}")
    print(f"alert recipients checked against the users in the database: {len(problems)} problem(s)")
    return len(problems)


def _study_texts(study: StudyConfig, language: str) -> list[tuple[str, str, list[str]]]:
    """(language, where, rendered texts) for everything participants read in a language."""
    from bot.core.languages import ENGLISH
    from bot.study.config import FAQ_TOPICS
    from bot.study.wording import DEFAULTS, messages

    faq = "faq" if language == ENGLISH else f"faq ({language})"
    entries = [
        (language, f"{faq}.{topic}", study.faq_answer(topic, language=language) or [])
        for topic in FAQ_TOPICS
    ]
    entries += [
        (
            language,
            f"{faq}.{topic} (simpler)",
            study.faq_answer(topic, simpler=True, language=language) or [],
        )
        for topic in FAQ_TOPICS
    ]
    wording = "wording" if language == ENGLISH else f"wording_{language}"
    entries += [(language, f"{wording}.{key}", messages(study, key, language)) for key in DEFAULTS]
    if language != ENGLISH:  # visit texts and the summary (names are read in sentences)
        entries += [
            (language, where, [study.render(text, language)])
            for where, text in study.translated_texts(language)
            if where.endswith((".summary", ".what_happens"))
        ]
    return entries


def _enroll(args: argparse.Namespace) -> int:
    from datetime import date

    from bot.db.models import Channel
    from bot.db.session import migrate, session_scope
    from bot.participants.enrollment import EnrollmentError, enroll, parse_clock
    from bot.study.config import current_study

    channel = Channel(args.channel)
    try:
        checkin_time = parse_clock(args.checkin_time) if args.checkin_time else None
        enrolled_on = date.fromisoformat(args.enrolled_on) if args.enrolled_on else None
        migrate()
        with session_scope() as session:
            result = enroll(
                session=session,
                study=current_study(),
                study_id=args.study_id,
                channel=channel,
                phone=args.phone,
                timezone_name=args.tz,
                checkin_time=checkin_time,
                language=args.language,
                enrolled_on=enrolled_on,
            )
            participant = result.participant
            print(
                f"enrolled {participant.study_id} on {channel.value}, {participant.timezone}, "
                f"check-ins at {participant.preferred_contact_time:%H:%M} local time"
            )
            if result.enrollment_code:
                print(
                    f"Telegram enrollment code: {result.enrollment_code} "
                    f"(the participant opens the bot and sends: /start {result.enrollment_code})"
                )
    except (EnrollmentError, ValueError) as error:
        print(f"trialbot enroll: {error}", file=sys.stderr)
        return 2
    return 0


def _worker(args: argparse.Namespace) -> int:
    from bot.core.worker import run
    from bot.outreach.worker import OutreachWorker

    return run(OutreachWorker.from_settings, args)


def _read_password(args: argparse.Namespace) -> str:
    """The new user's password: one line from stdin, or typed twice without echo."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise ValueError("the two passwords are not the same")
    return first


def _create_user(args: argparse.Namespace) -> int:
    """create-admin: the admin's own password (typed, or from stdin). create-user: a
    one-time password, printed (or from stdin), that the user must change at first sign-in."""
    from bot.db.models import StaffRole
    from bot.db.session import migrate, session_scope
    from bot.staff.audit import SYSTEM_ACTOR
    from bot.staff.auth import check_password_rules, create_user, generate_password

    role = StaffRole(args.role)
    one_time = args.command == "create-user"
    try:
        if one_time and not args.password_stdin:
            password = generate_password()
        else:
            password = _read_password(args)
        check_password_rules(password, username=args.username)
        migrate()
        with session_scope() as session:
            user = create_user(
                session=session,
                actor=SYSTEM_ACTOR,
                username=args.username,
                display_name=args.name or args.username,
                role=role,
                password=password,
                phone=args.phone,
                telegram_chat_id=args.telegram_chat_id,
                must_change_password=one_time,
            )
            print(f"created {role.value} user {user.username}; sign in at /console")
            if one_time and not args.password_stdin:
                print(f"one-time password (shown only now; changed at first sign-in): {password}")
    except ValueError as error:  # StaffUserError is a ValueError
        print(f"trialbot {args.command}: {error}", file=sys.stderr)
        return 2
    return 0


def _add_user_arguments(parser: argparse.ArgumentParser, *, one_time: bool) -> None:
    """Options shared by create-admin and create-user."""
    parser.add_argument("--username", required=True, help="letters, digits, . _ -")
    parser.add_argument("--name", help="the name others see (default: the username)")
    parser.add_argument("--phone", help="E.164 number for SMS alerts (optional)")
    parser.add_argument("--telegram-chat-id", help="Telegram chat ID for alerts (optional)")
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input" + (" (still one-time)" if one_time else ""),
    )
    parser.set_defaults(handler=_create_user)


def _reset_password(args: argparse.Namespace) -> int:
    """A new one-time password for a user (e.g. the only admin, locked out), printed once."""
    from bot.db.session import migrate, session_scope
    from bot.staff.audit import SYSTEM_ACTOR
    from bot.staff.auth import StaffUserError, get_user_by_username, reset_password

    migrate()
    with session_scope() as session:
        user = get_user_by_username(session=session, username=args.username)
        if user is None:
            print(f"trialbot reset-password: no user {args.username!r}", file=sys.stderr)
            return 2
        try:
            password = reset_password(
                session=session, actor=SYSTEM_ACTOR, user_id=user.id, reason="trialbot CLI"
            )
        except StaffUserError as error:
            print(f"trialbot reset-password: {error}", file=sys.stderr)
            return 2
        print(f"one-time password for {user.username} (shown only now): {password}")
    return 0


def _new_key(args: argparse.Namespace) -> int:
    from cryptography.fernet import Fernet

    print(Fernet.generate_key().decode())
    return 0


def _telegram_webhook(args: argparse.Namespace) -> int:
    from bot.channels.telegram_setup import main as telegram_setup

    return telegram_setup(["--remove"] if args.remove else [])


# Commands whose own module parses the rest of the command line (`trialbot export --help`).
DELEGATED = {
    "export": ("bot.research.export", "de-identified CSV export with a data dictionary"),
    "report": ("bot.research.report", "a self-contained HTML report for the PI"),
    "seed-demo": ("bot.demo.simulation", "seed several weeks of simulated participants"),
    "export-nlu": (
        "bot.research.nlu_review",
        "labelled messages as an NLU file to review (never into data/nlu)",
    ),
}


def _delegate(args: argparse.Namespace) -> int:
    import importlib

    module = importlib.import_module(DELEGATED[args.command][0])
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    exit_code: int = module.main(rest)
    return exit_code


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(prog="trialbot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start the assistant, action server and web app").set_defaults(
        handler=_run
    )
    serve = commands.add_parser(
        "serve", help="run one process in the foreground (production: one systemd unit each)"
    )
    serve.add_argument("process", choices=PROCESS_NAMES)
    serve.add_argument("extra", nargs=argparse.REMAINDER, help="-- options for that process")
    serve.set_defaults(handler=_serve)
    commands.add_parser("migrate", help="bring the database schema up to date").set_defaults(
        handler=_migrate
    )
    enroll = commands.add_parser("enroll", help="enroll a participant on SMS or Telegram")
    enroll.add_argument("--study-id", required=True, help="e.g. P-001")
    enroll.add_argument("--channel", choices=("sms", "telegram"), default="sms")
    enroll.add_argument("--phone", help="E.164, e.g. +15555550100 (SMS)")
    enroll.add_argument("--tz", required=True, help="IANA time zone, e.g. America/Chicago")
    enroll.add_argument("--checkin-time", help="local HH:MM (default: the study's)")
    enroll.add_argument(
        "--language",
        choices=LANGUAGES,
        default=DEFAULT_LANGUAGE,
        help="what the participant reads: en (English) or es (Spanish)",
    )
    enroll.add_argument("--enrolled-on", help="YYYY-MM-DD (default: today, local)")
    enroll.set_defaults(handler=_enroll)
    worker = commands.add_parser(
        "worker", help="send check-in prompts, nudges and reminders when due (until stopped)"
    )
    add_worker_arguments(worker, default_interval=30.0)
    worker.set_defaults(handler=_worker)
    commands.add_parser(
        "new-key", help="print a new ENCRYPTION_KEY (for phone numbers and chat IDs at rest)"
    ).set_defaults(handler=_new_key)
    admin = commands.add_parser("create-admin", help="create a staff-console admin user")
    _add_user_arguments(admin, one_time=False)
    admin.set_defaults(role="admin")
    user = commands.add_parser(
        "create-user", help="create a staff-console user with a printed one-time password"
    )
    _add_user_arguments(user, one_time=True)
    user.add_argument("--role", required=True, choices=("staff", "researcher", "admin"))
    reset = commands.add_parser(
        "reset-password", help="give a console user a new one-time password (printed once)"
    )
    reset.add_argument("--username", required=True)
    reset.set_defaults(handler=_reset_password)
    webhook = commands.add_parser(
        "telegram-webhook", help="register the Telegram webhook (TELEGRAM_WEBHOOK_BASE_URL)"
    )
    webhook.add_argument("--remove", action="store_true", help="remove it instead")
    webhook.set_defaults(handler=_telegram_webhook)
    for name, (_, summary) in DELEGATED.items():
        delegated = commands.add_parser(name, help=summary, add_help=False)
        delegated.add_argument("rest", nargs=argparse.REMAINDER)
        delegated.set_defaults(handler=_delegate)
    check = commands.add_parser(
        "check-study",
        help=(
            "check a study config: every answer present in English and Spanish, short and "
            "plain; every alert level reaches someone in the database's users"
        ),
    )
    check.add_argument("path", nargs="?", help="the study YAML (default: STUDY_CONFIG)")
    check.set_defaults(handler=_check_study)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `trialbot` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        argv = [argv[0], "--", *argv[1:]]  # the rest, options too, belongs to the module
    args = build_parser().parse_args(argv)
    configure_logging(get_settings().log_level)
    handler: Handler = args.handler
    try:
        return handler(args)
    except (SettingsError, StudyConfigError) as error:
        print(f"trialbot: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
