"""Fixtures for the browser tests: the console's web app started for real, and Chromium.

The web app runs as `trialbot run` starts it (uvicorn, its own process) on a free port,
on the test's migrated SQLite database, with Rasa's API and Twilio's as the local
stand-ins the handoff tests use. Playwright drives Debian's Chromium, launched by path
(CHROMIUM, /usr/bin/chromium by default): `playwright install` is never run and nothing
is downloaded. Without Chromium the tests are skipped, naming the package to install;
with TRIALBOT_REQUIRE_SERVICES=1 (CI) they fail instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from bot.core.settings import get_settings
from bot.db.models import StaffUser
from tests.alerts.support import alert_env, rasa_api, staff, telegram_api, twilio_api
from tests.conftest import service_missing
from tests.staff.conftest import fast_password_hashing
from tests.stand_ins.stack import StartError, free_port, started

__all__ = [
    "alert_env",
    "fast_password_hashing",
    "rasa_api",
    "staff",
    "telegram_api",
    "twilio_api",
]

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# Long enough for a page on a busy 2-core machine; the live updates have their own, shorter.
PAGE_TIMEOUT_MS = 10_000
expect.set_options(timeout=PAGE_TIMEOUT_MS)

# Records every notification the page raises (window.Notification, or a service worker's
# showNotification) in window.__notifications, then lets the browser show it as usual.
NOTIFICATION_SPY = """
(() => {
  window.__notifications = [];
  const Real = window.Notification;
  if (Real) {
    window.Notification = class extends Real {
      constructor(title, options) {
        window.__notifications.push({ title: String(title), body: (options || {}).body || "" });
        super(title, options);
      }
    };
  }
  if (window.ServiceWorkerRegistration) {
    const show = ServiceWorkerRegistration.prototype.showNotification;
    ServiceWorkerRegistration.prototype.showNotification = function (title, options) {
      window.__notifications.push({ title: String(title), body: (options || {}).body || "" });
      return show.call(this, title, options);
    };
  }
})();
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, launched by path."""
    if not os.access(CHROMIUM, os.X_OK):
        service_missing(
            f"Chromium is not installed at {CHROMIUM}: the browser tests need Debian's "
            "package (`sudo apt-get install chromium`), or CHROMIUM set to another Chromium"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def console(
    alert_env: str,
    staff: dict[str, StaffUser],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """The web app's address, running on the test's database with the study team in it."""
    port = free_port()
    monkeypatch.setenv("WEB_PORT", str(port))
    # Plain http on this machine: the session cookie is not marked Secure.
    monkeypatch.setenv("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
    get_settings.cache_clear()
    settings = get_settings()
    try:
        with started(settings, tmp_path / "logs", ["web"], [f"{settings.web_url}/console/sign-in"]):
            yield settings.web_url
    except StartError as error:
        pytest.fail(str(error))


@pytest.fixture
def page(browser: Browser, console: str) -> Iterator[Page]:
    """A fresh browser tab on the console (relative addresses), allowed to notify."""
    context = browser.new_context(base_url=console, permissions=["notifications"])
    context.add_init_script(NOTIFICATION_SPY)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()
