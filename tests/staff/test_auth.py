"""Staff users and sign-in: argon2id hashes, rate limiting, alert addresses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import AuditEvent, SignInAttempt, StaffRole, StaffUser
from bot.db.types import utcnow
from bot.staff import auth
from bot.staff.auth import (
    BACKOFF_MEMORY,
    BACKOFF_START,
    FAILURES_BEFORE_BACKOFF,
    MAX_BACKOFF,
    MAX_FAILURES_PER_IP,
    RATE_LIMIT_WINDOW,
    StaffUserError,
    hash_password,
    sign_in,
    user_for_phone,
    user_for_telegram_chat,
    verify_password,
)
from tests.staff.factories import PASSWORD, add_user

IP = "192.0.2.10"


def _audit_actions(session: Session) -> list[str]:
    return list(session.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars())


def test_passwords_are_hashed_with_argon2id() -> None:
    hashed = hash_password("a long enough password")

    assert hashed.startswith("$argon2id$")
    assert "a long enough password" not in hashed
    assert verify_password(hashed, "a long enough password")
    assert not verify_password(hashed, "a long enough passwore")
    assert not verify_password("not a hash", "a long enough password")


def test_the_real_hasher_uses_argon2id_defaults() -> None:
    assert PasswordHasher().type.name == "ID"
    assert auth.MIN_PASSWORD_LENGTH >= 12


def test_create_user_stores_a_hash_and_encrypted_addresses(session: Session) -> None:
    user = add_user(session, "Maria", StaffRole.ADMIN, phone="+1 312 555 0142")
    auth.create_user(
        session=session,
        actor="maria",
        username="bob",
        display_name="Bob",
        role=StaffRole.STAFF,
        password=PASSWORD,
        telegram_chat_id="123456789",
    )
    session.commit()

    assert user.username == "maria"
    assert user.password_hash.startswith("$argon2id$")
    assert user.phone_encrypted and "5550142" not in user.phone_encrypted
    assert user_for_phone(session=session, phone="+13125550142") == user
    assert user_for_phone(session=session, phone="+13125550143") is None
    bob = user_for_telegram_chat(session=session, chat_id="123456789")
    assert bob is not None and bob.username == "bob"
    assert "user.create" in _audit_actions(session)


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("joy", "short", "at least 12"),
        ("x", PASSWORD, "2-64 characters"),
        ("joy smith", PASSWORD, "2-64 characters"),
    ],
)
def test_create_user_refuses_bad_details(
    session: Session, username: str, password: str, message: str
) -> None:
    with pytest.raises(StaffUserError, match=message):
        add_user(session, username, password=password)


def test_usernames_are_unique_in_any_case(session: Session) -> None:
    add_user(session, "joy")
    with pytest.raises(StaffUserError, match="taken"):
        add_user(session, "JOY")


def test_sign_in_with_the_right_password(session: Session) -> None:
    user = add_user(session)

    result = sign_in(session=session, username=" JOY ", password=PASSWORD, ip=IP)
    session.commit()

    assert result.user is not None and result.user.id == user.id
    assert not result.rate_limited
    assert user.last_sign_in_at is not None
    attempts = session.execute(select(SignInAttempt)).scalars().all()
    assert [(a.username, a.ip, a.success) for a in attempts] == [("joy", IP, True)]
    assert _audit_actions(session)[-1] == "auth.sign_in"


def test_wrong_password_or_unknown_user_fails_the_same_way(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_user(session)
    checked: list[str] = []
    real_verify = auth.verify_password

    def counting_verify(password_hash: str, password: str) -> bool:
        checked.append(password_hash)
        return real_verify(password_hash, password)

    monkeypatch.setattr(auth, "verify_password", counting_verify)

    wrong = sign_in(session=session, username="joy", password="not the password", ip=IP)
    unknown = sign_in(session=session, username="nobody", password=PASSWORD, ip=IP)
    session.commit()

    assert wrong.user is None and unknown.user is None
    # An unknown user still costs one argon2 verification (against a dummy hash).
    assert len(checked) == 2 and all(h.startswith("$argon2id$") for h in checked)
    details = session.execute(select(AuditEvent.detail)).scalars().all()
    assert not any(PASSWORD in detail or "not the password" in detail for detail in details)
    assert _audit_actions(session)[-2:] == ["auth.sign_in_failed", "auth.sign_in_failed"]


def test_inactive_user_cannot_sign_in(session: Session) -> None:
    user = add_user(session)
    user.active = False
    session.commit()

    assert sign_in(session=session, username="joy", password=PASSWORD, ip=IP).user is None


def fail(session: Session, username: str = "joy", ip: str = IP, **when: object) -> None:
    """One failed sign-in (a wrong password), checked: not refused unchecked."""
    result = sign_in(session=session, username=username, password="wrong password!", ip=ip, **when)
    assert result.user is None and not result.rate_limited


def test_after_five_failures_that_address_must_wait(session: Session) -> None:
    add_user(session)
    now = utcnow()
    for _ in range(FAILURES_BEFORE_BACKOFF):
        fail(session, now=now)
    session.commit()

    refused = sign_in(session=session, username="joy", password=PASSWORD, ip=IP, now=now)
    later = sign_in(
        session=session, username="joy", password=PASSWORD, ip=IP, now=now + BACKOFF_START
    )
    session.commit()

    assert refused.rate_limited and refused.user is None
    assert refused.retry_after == BACKOFF_START
    assert later.user is not None  # no lockout: a short wait
    assert "auth.sign_in_refused" in _audit_actions(session)


def test_the_wait_doubles_with_each_failure_up_to_the_window(session: Session) -> None:
    add_user(session)
    now = utcnow()
    waits = []
    for _ in range(FAILURES_BEFORE_BACKOFF):
        fail(session, now=now)
    for _ in range(7):
        wait = auth.retry_after(session=session, username="joy", ip=IP, now=now)
        assert wait is not None
        waits.append(wait)
        now += wait
        fail(session, now=now)

    assert waits[:5] == [BACKOFF_START * 2**step for step in range(5)]
    assert waits[-1] == MAX_BACKOFF
    # Failures are forgotten after a while: nothing is permanent.
    later = now + BACKOFF_MEMORY
    assert auth.retry_after(session=session, username="joy", ip=IP, now=later) is None


def test_failures_from_another_address_do_not_lock_the_user_out(session: Session) -> None:
    add_user(session)
    now = utcnow()
    for _ in range(FAILURES_BEFORE_BACKOFF):
        fail(session, ip="203.0.113.9", now=now)

    from_home = sign_in(session=session, username="joy", password=PASSWORD, ip=IP, now=now)

    assert from_home.user is not None


def test_guessing_many_users_from_one_address_stops_no_one_elsewhere(session: Session) -> None:
    add_user(session, "yara")
    now = utcnow()
    for index in range(MAX_FAILURES_PER_IP):
        username = ("yara", "joy", "bob", "cara")[index % 4]  # yara five times among them
        fail(session, username=username, ip="203.0.113.9", now=now)

    from_there = sign_in(
        session=session, username="yara", password=PASSWORD, ip="203.0.113.9", now=now
    )
    from_home = sign_in(session=session, username="yara", password=PASSWORD, ip=IP, now=now)

    assert from_there.rate_limited
    assert from_home.user is not None


def test_a_successful_sign_in_clears_the_count(session: Session) -> None:
    add_user(session)
    now = utcnow()
    for _ in range(FAILURES_BEFORE_BACKOFF - 1):
        fail(session, now=now)
    assert sign_in(session=session, username="joy", password=PASSWORD, ip=IP, now=now).user
    for _ in range(FAILURES_BEFORE_BACKOFF - 1):
        fail(session, now=now)

    result = sign_in(session=session, username="joy", password=PASSWORD, ip=IP, now=now)

    assert result.user is not None


def test_one_address_guessing_many_usernames_is_refused(session: Session) -> None:
    add_user(session)
    now = utcnow()
    for index in range(MAX_FAILURES_PER_IP):
        fail(session, username=f"guess{index}", now=now)

    from_there = sign_in(session=session, username="joy", password=PASSWORD, ip=IP, now=now)
    elsewhere = sign_in(session=session, username="joy", password=PASSWORD, ip="198.51.100.7")
    after_the_window = sign_in(
        session=session, username="joy", password=PASSWORD, ip=IP, now=now + RATE_LIMIT_WINDOW
    )

    assert from_there.rate_limited and from_there.retry_after == RATE_LIMIT_WINDOW
    assert elsewhere.user is not None
    assert after_the_window.user is not None


def test_a_user_who_signed_in_from_that_address_before_is_not_locked_out(
    session: Session,
) -> None:
    add_user(session)
    now = utcnow()
    hospital = "192.0.2.200"  # one address for the whole ward
    assert sign_in(
        session=session, username="joy", password=PASSWORD, ip=hospital, now=now - timedelta(days=1)
    ).user
    for index in range(MAX_FAILURES_PER_IP):
        fail(session, username=f"guess{index}", ip=hospital, now=now)

    assert sign_in(session=session, username="joy", password=PASSWORD, ip=hospital, now=now).user
    stranger = sign_in(session=session, username="bob", password=PASSWORD, ip=hospital, now=now)
    assert stranger.rate_limited


def test_a_weaker_hash_is_upgraded_at_sign_in(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = add_user(session)
    old_hash = user.password_hash
    monkeypatch.setattr(auth, "password_hasher", PasswordHasher(time_cost=2, memory_cost=2048))

    assert sign_in(session=session, username="joy", password=PASSWORD, ip=IP).user
    session.commit()

    stored = session.execute(select(StaffUser.password_hash)).scalar_one()
    assert stored != old_hash and "t=2" in stored
    assert verify_password(stored, PASSWORD)


# --- one-time passwords, changes, resets, deactivation -----------------------------------


def test_a_one_time_password_is_flagged_and_audited(session: Session) -> None:
    user = auth.create_user(
        session=session,
        actor="ada",
        username="sam",
        display_name="Sam",
        role=StaffRole.STAFF,
        password=auth.generate_password(),
        must_change_password=True,
    )
    session.commit()

    assert user.must_change_password is True
    assert add_user(session, "joy").must_change_password is False
    detail = session.execute(select(AuditEvent.detail)).scalars().first()
    assert detail == "created staff user sam; one-time password"


def test_generated_passwords_pass_the_rules_and_differ() -> None:
    made = {auth.generate_password() for _ in range(20)}

    assert len(made) == 20
    for password in made:
        auth.check_password_rules(password, username="sam")


@pytest.mark.parametrize(
    ("password", "message"),
    [("short", "at least 12"), ("my-name-is-SAM-ok", "username"), ("x" * 1025, "at most")],
)
def test_password_rules(password: str, message: str) -> None:
    with pytest.raises(StaffUserError, match=message):
        auth.check_password_rules(password, username="sam")


def test_change_password_needs_the_current_one_and_clears_the_flag(session: Session) -> None:
    user = add_user(session, "joy")
    user.must_change_password = True
    session.commit()
    new = "a brand new long passphrase"

    with pytest.raises(StaffUserError, match="current password"):
        auth.change_password(session=session, user_id=user.id, current="wrong", new=new)
    with pytest.raises(StaffUserError, match="not the one you have now"):
        auth.change_password(session=session, user_id=user.id, current=PASSWORD, new=PASSWORD)
    with pytest.raises(StaffUserError, match="username"):
        auth.change_password(
            session=session, user_id=user.id, current=PASSWORD, new="joy joy joy joy joy"
        )
    auth.change_password(session=session, user_id=user.id, current=PASSWORD, new=new)
    session.commit()

    assert user.must_change_password is False
    assert verify_password(user.password_hash, new)
    assert _audit_actions(session)[-2:] == ["auth.password_change_failed", "auth.password_change"]
    assert new not in " ".join(session.execute(select(AuditEvent.detail)).scalars())


def test_an_admin_reset_gives_a_new_one_time_password(session: Session) -> None:
    user = add_user(session, "joy")
    stamp = auth.password_stamp(user)

    password = auth.reset_password(
        session=session, actor="ada", user_id=user.id, reason="forgot it"
    )
    session.commit()

    assert user.must_change_password is True
    assert verify_password(user.password_hash, password)
    assert not verify_password(user.password_hash, PASSWORD)
    assert auth.password_stamp(user) != stamp
    event = session.execute(select(AuditEvent).order_by(AuditEvent.id.desc())).scalars().first()
    assert event is not None
    assert (event.actor, event.action) == ("ada", "user.password_reset")
    assert event.detail == "one-time password set for joy; reason: forgot it"
    assert password not in event.detail


def test_deactivate_and_reactivate_are_audited_with_old_and_new(session: Session) -> None:
    add_user(session, "ada", StaffRole.ADMIN)
    joy = add_user(session, "joy")

    assert auth.set_active(session=session, actor="ada", user_id=joy.id, active=False)
    assert not auth.set_active(session=session, actor="ada", user_id=joy.id, active=False)
    session.commit()
    refused = sign_in(session=session, username="joy", password=PASSWORD, ip=IP)
    assert auth.set_active(
        session=session, actor="ada", user_id=joy.id, active=True, reason="back from leave"
    )
    session.commit()

    assert refused.user is None
    assert sign_in(session=session, username="joy", password=PASSWORD, ip=IP).user is not None
    details = session.execute(
        select(AuditEvent.action, AuditEvent.detail)
        .where(AuditEvent.action.like("user.%activate"))
        .order_by(AuditEvent.id)
    ).all()
    assert [tuple(row) for row in details] == [
        ("user.deactivate", "user joy; active: yes -> no"),
        ("user.reactivate", "user joy; active: no -> yes; reason: back from leave"),
    ]
    assert session.get(StaffUser, joy.id) is not None


def test_admins_cannot_lock_themselves_out(session: Session) -> None:
    ada = add_user(session, "ada", StaffRole.ADMIN)
    bea = add_user(session, "bea", StaffRole.ADMIN)

    with pytest.raises(StaffUserError, match="yourself"):
        auth.set_active(session=session, actor="ada", user_id=ada.id, active=False)
    auth.set_active(session=session, actor="ada", user_id=bea.id, active=False)
    with pytest.raises(StaffUserError, match="last active admin"):
        auth.set_active(session=session, actor="bea", user_id=ada.id, active=False)


def test_a_users_time_zone(session: Session) -> None:
    joy = add_user(session, "joy")

    auth.set_timezone(session=session, user_id=joy.id, timezone_name="Europe/Madrid")
    with pytest.raises(StaffUserError, match="not a time zone"):
        auth.set_timezone(session=session, user_id=joy.id, timezone_name="Mars/Base")
    auth.set_timezone(session=session, user_id=joy.id, timezone_name="")
    session.commit()

    assert joy.timezone is None
    details = session.execute(
        select(AuditEvent.detail).where(AuditEvent.action == "user.settings")
    ).scalars()
    assert list(details) == ["timezone: site -> Europe/Madrid", "timezone: Europe/Madrid -> site"]


def test_a_deactivated_user_gets_no_alerts(session: Session) -> None:
    from bot.alerts.planning import FIRST, recipients_for
    from bot.study.config import current_study

    add_user(session, "ada", StaffRole.ADMIN)
    kim = add_user(session, "nurse.kim")  # the example study's on-call nurse

    before = recipients_for(session=session, study=current_study(), round_number=FIRST)
    auth.set_active(session=session, actor="ada", user_id=kim.id, active=False)
    session.commit()
    after = recipients_for(session=session, study=current_study(), round_number=FIRST)

    assert [user.username for user in before] == ["nurse.kim"]
    assert after == []
