"""The chat page's English / Español switch: the page offers it (its own words in both
languages), the relay sends the visitor's pick to Rasa as message metadata, refuses any
other language, and answers with the conversation's language so the page can follow it.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import pytest
import textstat
from fastapi.testclient import TestClient

from bot.core.settings import get_settings
from bot.db.repository import ensure_web_participant
from bot.db.session import session_scope
from bot.study.config import current_study
from bot.web.chat_page import PAGE_TEXTS

# The page's own sentences (not single words), held to the participant-facing bar.
SENTENCES = ("error", "busy", "unavailable", "offline")
EASY_SPANISH = 70  # Fernández-Huerta: "bastante fácil" or easier


def new_sender() -> str:
    return f"web-{secrets.token_hex(8)}"


@pytest.fixture
def client(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("WEB_CHAT_ENABLED", "true")
    get_settings.cache_clear()
    from bot.web.app import app

    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def rasa(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Rasa's web chat channel as the relay reaches it: it makes the web participant and
    stores the language picked on the switch (as bot.channels.web_chat does)."""
    import bot.web.app

    received: list[dict] = []

    def channel(request: httpx.Request) -> httpx.Response:
        payload = json.loads(request.content)
        received.append(payload)
        with session_scope() as session:
            participant = ensure_web_participant(session=session, sender_id=payload["sender"])
            chosen = (payload.get("metadata") or {}).get("language")
            if chosen:
                participant.language = chosen
        return httpx.Response(200, json=[{"recipient_id": payload["sender"], "text": "ok"}])

    def client(**options: object) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(channel))

    monkeypatch.setattr(
        bot.web.app, "httpx", SimpleNamespace(AsyncClient=client, HTTPError=httpx.HTTPError)
    )
    return received


def test_the_page_has_the_switch_and_its_words_in_both_languages(client: TestClient) -> None:
    page = client.get("/")

    assert page.status_code == 200
    assert 'data-language="en"' in page.text and ">English<" in page.text
    assert 'data-language="es"' in page.text and ">Español<" in page.text
    blob = re.search(
        r'<script id="chat-texts" type="application/json">(.*?)</script>', page.text, re.S
    )
    assert blob is not None
    texts = json.loads(blob.group(1))
    name = current_study().study.name
    assert texts["es"]["heading"] == f"Asistente de {name}"
    assert texts["es"]["placeholder"] == "Escriba un mensaje"
    assert texts["es"]["send"] == "Enviar"
    assert texts["en"]["placeholder"] == "Type a message"
    assert set(texts["en"]) == set(texts["es"])
    assert current_study().emergency_number in page.text


def test_the_picked_language_goes_to_rasa_as_metadata_and_comes_back(
    client: TestClient, rasa: list[dict]
) -> None:
    sender = new_sender()

    answer = client.post("/api/chat", json={"sender": sender, "message": "hola", "language": "es"})

    assert answer.status_code == 200
    assert answer.json() == {"messages": [{"recipient_id": sender, "text": "ok"}], "language": "es"}
    assert rasa == [{"sender": sender, "message": "hola", "metadata": {"language": "es"}}]


def test_without_a_pick_nothing_is_sent_and_the_conversations_language_comes_back(
    client: TestClient, rasa: list[dict]
) -> None:
    sender = new_sender()

    answer = client.post("/api/chat", json={"sender": sender, "message": "hello"})

    assert answer.json()["language"] == "en"
    assert rasa == [{"sender": sender, "message": "hello"}]


@pytest.mark.parametrize("language", ["fr", "ES", "spanish", ""])
def test_any_other_language_is_refused(client: TestClient, rasa: list[dict], language: str) -> None:
    answer = client.post(
        "/api/chat", json={"sender": new_sender(), "message": "hola", "language": language}
    )

    assert answer.status_code == 422
    assert rasa == []


@pytest.fixture
def spanish_readability() -> Iterator[None]:
    """textstat counting Spanish syllables for one test (its language is global)."""
    textstat.set_lang("es")
    yield
    textstat.set_lang("en_US")


@pytest.mark.parametrize("key", SENTENCES)
def test_the_pages_spanish_sentences_are_easy_and_short(
    spanish_readability: None, key: str
) -> None:
    text = PAGE_TEXTS["es"][key]
    assert textstat.fernandez_huerta(text) >= EASY_SPANISH, text
    assert len(text) <= 300
