"""Staff prove their own alert addresses in the console: a check code by SMS or Telegram,
typed on their account page (bot/alerts/verification.py, bot/web/console/accounts.py), on
SQLite and PostgreSQL, with Twilio's and Telegram's APIs stood in locally."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.core.settings import get_settings
from bot.db.models import AuditEvent, StaffAddressCheck, StaffRole, StaffUser
from bot.db.types import utcnow
from bot.staff.audit import AuditAction
from tests.alerts.support import (
    alert_env,
    rasa_api,
    sms_texts,
    telegram_api,
    telegram_texts,
    twilio_api,
)
from tests.staff.factories import add_user
from tests.stand_ins.telegram_api import TelegramApiStandIn
from tests.stand_ins.twilio_api import INVALID_NUMBER, TwilioApiStandIn
from tests.web.test_console import audit_events, csrf_of, signed_in

__all__ = ["alert_env", "rasa_api", "telegram_api", "twilio_api"]

PHONE = "+15555550201"
CHAT = "7100001"
ACCOUNT = "/console/account"
CHECK_TEXT = re.compile(r"Trial Companion: your check code is (\d{6})\. It works for 10 minutes\.")


@pytest.fixture
def joy(alert_env: str, session: Session) -> StaffUser:
    """A nurse with a phone number and a Telegram chat, neither verified."""
    return add_user(session, "joy", phone=PHONE, telegram_chat_id=CHAT)


@pytest.fixture
def browser(client: TestClient, joy: StaffUser) -> TestClient:
    """Joy's browser, signed in."""
    return signed_in(client, "joy")


def stored(session: Session, username: str = "joy") -> StaffUser:
    session.expire_all()
    return session.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one()


def ask_for_code(browser: TestClient, channel: str) -> str:
    """Press "Send me a check code"; the flash shown on the account page after."""
    token = csrf_of(browser, ACCOUNT)
    reply = browser.post(f"/console/account/check/{channel}/send", data={"csrf_token": token})
    assert reply.status_code == 303
    assert reply.headers["location"] == ACCOUNT
    return browser.get(ACCOUNT).text


def type_code(browser: TestClient, channel: str, code: str) -> str:
    """Type a code on the account page; the page shown after."""
    token = csrf_of(browser, ACCOUNT)
    reply = browser.post(
        f"/console/account/check/{channel}", data={"csrf_token": token, "code": code}
    )
    assert reply.status_code == 303
    return browser.get(ACCOUNT).text


def code_in(texts: list[str]) -> str:
    """The code of the last check text sent."""
    match = CHECK_TEXT.fullmatch(texts[-1])
    assert match, texts[-1]
    return match.group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_the_account_page_shows_each_enabled_address_not_verified(
    browser: TestClient,
) -> None:
    page = browser.get(ACCOUNT).text

    assert page.count("not verified") == 2
    assert page.count("Send me a check code") == 2
    assert 'action="/console/account/check/sms/send"' in page
    assert 'action="/console/account/check/telegram/send"' in page


def test_a_code_by_sms_verifies_the_phone(
    browser: TestClient, session: Session, twilio_api: TwilioApiStandIn
) -> None:
    page = ask_for_code(browser, "sms")

    assert "A check code is on its way" in page
    code = code_in(sms_texts(twilio_api, PHONE))
    page = type_code(browser, "sms", code)

    assert "Your SMS address is verified." in page
    user = stored(session)
    assert user.phone_verified_at is not None
    assert user.telegram_chat_verified_at is None
    assert [event.detail for event in audit_events(session, AuditAction.ADDRESS_CHECK_SENT)] == [
        "SMS address: check code sent"
    ]
    [verified] = audit_events(session, AuditAction.ADDRESS_VERIFIED)
    assert (verified.actor, verified.detail) == ("joy", "SMS address: verified")
    assert session.execute(select(StaffAddressCheck)).first() is None
    assert page.count("not verified") == 1


def test_a_code_by_telegram_verifies_the_chat(
    browser: TestClient, session: Session, telegram_api: TelegramApiStandIn
) -> None:
    ask_for_code(browser, "telegram")
    code = code_in(telegram_texts(telegram_api, CHAT))

    assert "Your Telegram address is verified." in type_code(browser, "telegram", code)
    assert stored(session).telegram_chat_verified_at is not None


def test_wrong_codes_count_and_the_sixth_try_is_refused(
    browser: TestClient, session: Session, twilio_api: TwilioApiStandIn
) -> None:
    ask_for_code(browser, "sms")
    code = code_in(sms_texts(twilio_api, PHONE))

    first = type_code(browser, "sms", wrong(code))
    for _ in range(4):
        last = type_code(browser, "sms", wrong(code))
    sixth = type_code(browser, "sms", code)

    assert "That is not the code: 4 more tries with this code." in first
    assert "That is not the code. Ask for a new code." in last
    assert "Not verified: too many tries. Ask for a new code by SMS." in sixth
    assert stored(session).phone_verified_at is None
    failures = [event.detail for event in audit_events(session, AuditAction.ADDRESS_CHECK_FAILED)]
    assert failures == [
        *(f"SMS address: wrong code (try {n} of 5)" for n in range(1, 6)),
        "SMS address: too many tries",
    ]

    ask_for_code(browser, "sms")  # a new code starts again
    assert "is verified" in type_code(browser, "sms", code_in(sms_texts(twilio_api, PHONE)))


def test_an_expired_code_is_refused(
    browser: TestClient, session: Session, twilio_api: TwilioApiStandIn
) -> None:
    ask_for_code(browser, "sms")
    code = code_in(sms_texts(twilio_api, PHONE))
    [check] = session.execute(select(StaffAddressCheck)).scalars()
    assert check.code_hash.startswith("$argon2id$") and code not in check.code_hash
    session.execute(update(StaffAddressCheck).values(expires_at=utcnow() - timedelta(seconds=1)))
    session.commit()

    page = type_code(browser, "sms", code)

    assert "Not verified: the code had expired. Ask for a new code by SMS." in page
    assert stored(session).phone_verified_at is None


def test_changing_the_phone_clears_its_verification_and_voids_its_code(
    browser: TestClient,
    session: Session,
    twilio_api: TwilioApiStandIn,
    telegram_api: TelegramApiStandIn,
) -> None:
    ask_for_code(browser, "sms")
    type_code(browser, "sms", code_in(sms_texts(twilio_api, PHONE)))
    ask_for_code(browser, "telegram")
    type_code(browser, "telegram", code_in(telegram_texts(telegram_api, CHAT)))
    ask_for_code(browser, "sms")  # a code for the old number, not typed yet
    old_code = code_in(sms_texts(twilio_api, PHONE))

    token = csrf_of(browser, ACCOUNT)
    reply = browser.post(
        "/console/account/addresses",
        data={"csrf_token": token, "phone": "+1 555 555 0299", "telegram_chat_id": CHAT},
    )

    assert reply.status_code == 303
    user = stored(session)
    assert user.phone_verified_at is None
    assert user.telegram_chat_verified_at is not None  # unchanged, still verified
    [changed] = audit_events(session, AuditAction.USER_ADDRESSES_CHANGED)
    assert changed.detail == "alert addresses of joy; phone: set -> set, not verified"
    page = type_code(browser, "sms", old_code)
    assert "Not verified: no code was sent to this address." in page


def test_the_forms_need_the_csrf_token(
    browser: TestClient, session: Session, twilio_api: TwilioApiStandIn
) -> None:
    sent = browser.post("/console/account/check/sms/send", data={})
    typed = browser.post("/console/account/check/sms", data={"code": "123456"})
    changed = browser.post("/console/account/addresses", data={"phone": "+15555550299"})

    assert [sent.status_code, typed.status_code, changed.status_code] == [403, 403, 403]
    assert twilio_api.messages == []
    assert audit_events(session, AuditAction.ADDRESS_CHECK_FAILED) == []
    assert stored(session).phone_hash is not None


def test_a_send_that_fails_says_so_and_is_recorded(
    browser: TestClient, session: Session, twilio_api: TwilioApiStandIn
) -> None:
    twilio_api.fail_next(1, status=400, code=INVALID_NUMBER)

    page = ask_for_code(browser, "sms")

    assert "Not sent: the code could not be sent by SMS: Twilio error 21211 (HTTP 400)." in page
    [failed] = audit_events(session, AuditAction.ADDRESS_CHECK_SEND_FAILED)
    assert failed.detail == "SMS address: check code not sent (Twilio error 21211 (HTTP 400))"
    assert session.execute(select(StaffAddressCheck)).first() is None


def test_a_channel_that_is_not_enabled_has_nothing_to_verify(
    browser: TestClient, monkeypatch: pytest.MonkeyPatch, telegram_api: TelegramApiStandIn
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "")
    get_settings.cache_clear()

    page = browser.get(ACCOUNT).text
    sent = ask_for_code(browser, "telegram")

    assert "/console/account/check/telegram" not in page
    assert "Not sent: telegram alerts are not set up here." in sent
    assert telegram_api.calls("sendMessage") == []
    assert (
        browser.post(
            "/console/account/check/console/send", data={"csrf_token": csrf_of(browser, ACCOUNT)}
        ).status_code
        == 404
    )


def test_the_code_is_never_logged_nor_audited(
    browser: TestClient,
    session: Session,
    twilio_api: TwilioApiStandIn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        ask_for_code(browser, "sms")
        code = code_in(sms_texts(twilio_api, PHONE))
        type_code(browser, "sms", wrong(code))
        type_code(browser, "sms", code)

    assert stored(session).phone_verified_at is not None
    assert not [record for record in caplog.records if code in record.getMessage()]
    assert not [record for record in caplog.records if PHONE in record.getMessage()]
    events = session.execute(select(AuditEvent)).scalars()
    assert not [event for event in events if code in event.detail or PHONE in event.detail]


def test_admins_see_who_verified_what_on_the_users_page(
    alert_env: str, client: TestClient, session: Session
) -> None:
    add_user(session, "ada", StaffRole.ADMIN)
    joy = add_user(session, "joy", phone=PHONE, telegram_chat_id=CHAT)
    joy.telegram_chat_verified_at = utcnow()
    session.commit()

    page = signed_in(client, "ada").get("/console/users").text

    assert "SMS (not verified)" in page
    assert "Telegram (verified)" in page
