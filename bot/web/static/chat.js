// The participant chat window: talks to the assistant through the web app's /api/chat.
//
// The English / Español switch: the visitor's pick is kept in this browser and sent with
// every message as {"language": "en" | "es"} (the assistant stores it as their language).
// Until they pick one, no language is sent (the assistant detects it) and the page shows
// its words in the conversation's language (each answer says it), else the browser's.
(function () {
  "use strict";
  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const input = document.getElementById("text");
  const TEXTS = JSON.parse(document.getElementById("chat-texts").textContent);
  const CHOSEN = "trialbot-language";
  const SEEN = "trialbot-language-seen";
  let shown = "en";

  function known(language) { return Object.prototype.hasOwnProperty.call(TEXTS, language) ? language : null; }
  function chosen() { return known(localStorage.getItem(CHOSEN)); }
  function browserLanguage() { return (navigator.language || "").toLowerCase().startsWith("es") ? "es" : "en"; }

  function showIn(language) {
    const t = TEXTS[language];
    shown = language;
    document.documentElement.lang = language;
    document.title = t.title;
    document.getElementById("heading").textContent = t.heading;
    document.getElementById("emergency-words").textContent = t.emergency;
    document.getElementById("text-label").textContent = t.label;
    document.getElementById("send").textContent = t.send;
    document.getElementById("language-switch").setAttribute("aria-label", t["switch"]);
    log.setAttribute("aria-label", t.conversation);
    input.placeholder = t.placeholder;
    document.querySelectorAll("#language-switch button").forEach((button) => {
      button.setAttribute("aria-pressed", String(button.dataset.language === language));
    });
  }

  // The conversation's language as the assistant reports it after each message.
  function follow(language) {
    if (!known(language)) return;
    localStorage.setItem(SEEN, language);
    // A typed "english" or "español" changed it: the switch follows.
    if (chosen() && chosen() !== language) localStorage.setItem(CHOSEN, language);
    showIn(language);
  }

  function senderId() {
    let id = localStorage.getItem("trialbot-sender");
    if (!id) {
      const bytes = new Uint8Array(12);
      crypto.getRandomValues(bytes);
      id = "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
      localStorage.setItem("trialbot-sender", id);
    }
    return id;
  }

  function show(text, who) {
    const bubble = document.createElement("div");
    bubble.className = "msg " + who;
    bubble.textContent = text;
    log.appendChild(bubble);
    log.scrollTop = log.scrollHeight;
    return bubble;
  }

  function showButtons(buttons) {
    const row = document.createElement("div");
    row.className = "buttons";
    buttons.forEach((b) => {
      const el = document.createElement("button");
      el.type = "button";
      el.textContent = b.title;
      el.addEventListener("click", () => { row.remove(); send(b.payload, b.title); });
      row.appendChild(el);
    });
    log.appendChild(row);
    log.scrollTop = log.scrollHeight;
  }

  function failure(status) {
    if (status === 429) return TEXTS[shown].busy;
    if (status === 503) return TEXTS[shown].unavailable;
    return TEXTS[shown].error;
  }

  async function send(payload, shownText) {
    show(shownText || payload, "user");
    const message = { sender: senderId(), message: payload };
    if (chosen()) message.language = chosen();
    try {
      const reply = await fetch("/api/chat", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(message),
      });
      if (!reply.ok) { show(failure(reply.status), "error"); return; }
      const body = await reply.json();
      follow(body.language);
      body.messages.forEach((m) => {
        if (m.text) show(m.text, "bot");
        if (m.buttons && m.buttons.length) showButtons(m.buttons);
      });
    } catch (e) {
      show(TEXTS[shown].offline, "error");
    }
  }

  // Messages that are not replies (a person from the study team, during a handoff).
  async function poll() {
    try {
      const reply = await fetch("/api/chat/updates?sender=" + encodeURIComponent(senderId()));
      if (reply.ok) {
        const body = await reply.json();
        body.messages.forEach((m) => {
          const bubble = show(m.text, "bot staff");
          if (m.from) bubble.setAttribute("title", m.from);
        });
      }
    } catch (e) {
      // offline for a moment: try again at the next poll
    }
    setTimeout(poll, POLL_MS);
  }
  const POLL_MS = 3000;
  setTimeout(poll, POLL_MS);

  document.querySelectorAll("#language-switch button").forEach((button) => {
    button.addEventListener("click", () => {
      localStorage.setItem(CHOSEN, button.dataset.language);
      showIn(button.dataset.language);
      input.focus();
    });
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
  });
  showIn(chosen() || known(localStorage.getItem(SEEN)) || browserLanguage());
  input.focus();
})();
