// The live handoff chat in the staff console: polls for new messages, sends what staff type.
(function () {
  "use strict";
  const list = document.getElementById("live-conversation");
  if (!list) return;
  const form = document.getElementById("live-composer");
  const errorBox = document.getElementById("live-error");
  const state = document.getElementById("handoff-state");
  const handoff = list.dataset.handoff;
  const pollMs = Number(list.dataset.pollSeconds || 3) * 1000;
  let after = Number(list.dataset.after || 0);

  function add(message) {
    const item = document.createElement("li");
    item.className = message.direction === "in" ? "inbound" : "outbound";
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = message.who + " · " + (message.when || message.at) + (message.direction === "out" && message.status ? " · " + message.status : "");
    if (message.language && message.language !== "en") {
      const badge = document.createElement("span");
      badge.className = "badge language";
      badge.lang = message.language;
      badge.textContent = message.language.toUpperCase();
      meta.append(" ", badge);
    }
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = message.text;
    item.append(meta, text);
    list.appendChild(item);
    item.scrollIntoView({ block: "end" });
  }

  async function poll() {
    try {
      const reply = await fetch("/console/api/handoffs/" + handoff + "/messages?after=" + after, { credentials: "same-origin" });
      if (reply.ok) {
        const body = await reply.json();
        body.messages.forEach((message) => { add(message); after = Math.max(after, message.id); });
        if (!body.active) {
          state.textContent = "Handed back to the assistant" + (body.ended_by ? " by " + body.ended_by : "") + ".";
          if (form) form.remove();
          return;
        }
      }
    } catch (e) {
      // the network dropped for a moment: try again at the next poll
    }
    setTimeout(poll, pollMs);
  }

  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const field = form.elements.namedItem("text");
      const text = field.value.trim();
      if (!text) return;
      errorBox.hidden = true;
      const reply = await fetch("/console/api/handoffs/" + handoff + "/messages", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": form.elements.namedItem("csrf_token").value },
        body: JSON.stringify({ text: text }),
      });
      if (reply.ok) {
        field.value = "";
        return;
      }
      const body = await reply.json().catch(() => ({}));
      errorBox.textContent = body.error || "Not sent. Please try again.";
      errorBox.hidden = false;
    });
  }
  if (list.dataset.active === "true") setTimeout(poll, pollMs);
})();
