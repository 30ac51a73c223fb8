"""`trialbot create-admin` and `trialbot create-user`."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import cli
from bot.db.models import AuditEvent, StaffRole, StaffUser
from bot.staff.auth import verify_password

PASSWORD = "a long enough password"


def _users(session: Session) -> list[StaffUser]:
    session.expire_all()
    return list(session.execute(select(StaffUser)).scalars())


def _prompts(monkeypatch: pytest.MonkeyPatch, *answers: str) -> None:
    replies: Iterator[str] = iter(answers)
    monkeypatch.setattr(cli.getpass, "getpass", lambda prompt="": next(replies))


def test_create_admin_from_stdin(
    session: Session, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))

    code = cli.main(
        ["create-admin", "--username", "Maria", "--name", "Maria Lopez", "--password-stdin"]
    )

    assert code == 0
    [user] = _users(session)
    assert (user.username, user.display_name, user.role) == (
        "maria",
        "Maria Lopez",
        StaffRole.ADMIN,
    )
    assert verify_password(user.password_hash, PASSWORD)
    event = session.execute(select(AuditEvent)).scalar_one()
    assert (event.actor, event.action) == ("system", "user.create")
    assert PASSWORD not in capsys.readouterr().out


def test_create_user_prints_a_one_time_password(
    session: Session, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _prompts(monkeypatch)  # nothing is asked

    assert cli.main(["create-user", "--role", "researcher", "--username", "rita"]) == 0

    [user] = _users(session)
    assert user.role is StaffRole.RESEARCHER and user.display_name == "rita"
    assert user.must_change_password is True
    printed = capsys.readouterr().out.splitlines()[-1]
    assert printed.startswith("one-time password (shown only now; changed at first sign-in): ")
    assert verify_password(user.password_hash, printed.rsplit(" ", 1)[-1])


def test_create_user_from_stdin_is_one_time_too(
    session: Session, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))

    assert (
        cli.main(["create-user", "--role", "staff", "--username", "joy", "--password-stdin"]) == 0
    )

    [user] = _users(session)
    assert user.must_change_password is True and verify_password(user.password_hash, PASSWORD)
    assert PASSWORD not in capsys.readouterr().out


def test_the_admin_typing_their_own_password_keeps_it(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    _prompts(monkeypatch, PASSWORD, PASSWORD)

    assert cli.main(["create-admin", "--username", "maria"]) == 0

    [user] = _users(session)
    assert user.must_change_password is False


@pytest.mark.parametrize(
    "answers", [(PASSWORD, PASSWORD + "!"), ("short", "short")], ids=["mismatch", "short"]
)
def test_bad_passwords_are_refused(
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    answers: tuple[str, str],
) -> None:
    _prompts(monkeypatch, *answers)

    assert cli.main(["create-admin", "--username", "maria"]) == 2

    assert _users(session) == []
    assert "password" in capsys.readouterr().err


def test_reset_password_prints_a_new_one_time_password(
    session: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.staff.factories import add_user

    add_user(session, "maria")

    assert cli.main(["reset-password", "--username", "Maria"]) == 0
    assert cli.main(["reset-password", "--username", "nobody"]) == 2

    [user] = _users(session)
    out = capsys.readouterr()
    assert user.must_change_password is True
    assert verify_password(user.password_hash, out.out.strip().rsplit(" ", 1)[-1])
    assert "no user 'nobody'" in out.err
    event = session.execute(select(AuditEvent).order_by(AuditEvent.id.desc())).scalars().first()
    assert event is not None
    assert (event.actor, event.action) == ("system", "user.password_reset")
