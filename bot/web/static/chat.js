// The participant chat window: talks to the assistant through the web app's /api/chat.
(function () {
  "use strict";
  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const input = document.getElementById("text");

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

  async function send(payload, shown) {
    show(shown || payload, "user");
    try {
      const reply = await fetch("/api/chat", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sender: senderId(), message: payload }),
      });
      const body = await reply.json();
      if (!reply.ok) { show(body.error || "Something went wrong. Please try again.", "error"); return; }
      body.messages.forEach((m) => {
        if (m.text) show(m.text, "bot");
        if (m.buttons && m.buttons.length) showButtons(m.buttons);
      });
    } catch (e) {
      show("We could not reach the helper. Please check your connection and try again.", "error");
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

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
  });
  input.focus();
})();
