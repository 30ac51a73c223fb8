// The live queue (bot/web/console/live_queue.py): the queue page swaps in the new list when
// the queue changes, with a sound and a browser notification for a new emergency or urgent
// item; an escalation page reloads when its own escalation changes. Both hear of changes
// from one server-sent event stream; without it they fall back to fetching now and then.
(function () {
  "use strict";
  const EVENTS = "/console/api/queue/events";
  const FALLBACK_MS = 10000; // when the stream cannot be kept open
  const TIMES_MS = 60000; // "2 min ago" goes stale: fetch the list again this often
  const ALERTS_KEY = "trialbot.console.alerts";
  const ALERT_LEVELS = ["emergency", "urgent"];

  // Calls onChange on each change of the queue (and on each (re)connection, which may
  // have missed one); polls instead if the stream is refused or not supported.
  function listen(onChange) {
    if (!("EventSource" in window)) {
      setInterval(onChange, FALLBACK_MS);
      return;
    }
    const source = new EventSource(EVENTS);
    source.addEventListener("queue", onChange);
    source.addEventListener("open", onChange);
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) setInterval(onChange, FALLBACK_MS);
    });
  }

  // --- sound and notifications -------------------------------------------------------

  let audio = null;

  function alertsWanted() {
    try {
      return window.localStorage.getItem(ALERTS_KEY) === "on";
    } catch (e) {
      return false;
    }
  }

  // Browsers start sound only after a click or a key: make (or wake) the audio then.
  function startAudio() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    if (!audio) audio = new Context();
    if (audio.state === "suspended") audio.resume().catch(() => {});
    return audio;
  }

  // A short beep made here (no sound file): three for an emergency, one for urgent.
  function beep(level) {
    if (!audio || audio.state !== "running") return;
    const count = level === "emergency" ? 3 : 1;
    for (let index = 0; index < count; index += 1) {
      const start = audio.currentTime + index * 0.25;
      const tone = audio.createOscillator();
      const volume = audio.createGain();
      tone.frequency.value = level === "emergency" ? 880 : 660;
      volume.gain.setValueAtTime(0.3, start);
      volume.gain.exponentialRampToValueAtTime(0.001, start + 0.18);
      tone.connect(volume).connect(audio.destination);
      tone.start(start);
      tone.stop(start + 0.2);
    }
  }

  // Level and study ID only: a lock screen must not show the reason (safety rule 5).
  function notify(item) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    const level = item.dataset.level;
    const url = "/console/escalations/" + item.dataset.escalationId;
    const note = new Notification(level.toUpperCase() + ": " + item.dataset.studyId, {
      body: "New " + level + " escalation in the queue.",
      tag: "escalation-" + item.dataset.escalationId,
      requireInteraction: level === "emergency",
    });
    note.addEventListener("click", () => {
      window.focus();
      window.location.assign(url);
      note.close();
    });
  }

  function setUpAlerts() {
    const control = document.getElementById("alerts-control");
    const button = document.getElementById("alerts-on");
    const state = document.getElementById("alerts-state");
    if (!control || !button) return;
    control.hidden = false;

    function show() {
      const on = alertsWanted() && audio && audio.state === "running";
      const permission = "Notification" in window ? Notification.permission : "unsupported";
      button.hidden = Boolean(on) && permission !== "default";
      state.textContent = !alertsWanted()
        ? "Sound and alerts are off."
        : (on ? "Sound on" : "Sound off until you click on the page") +
          (permission === "granted" ? "; notifications on." : permission === "denied" ? "; notifications are blocked in this browser." : ".");
    }

    button.addEventListener("click", async () => {
      window.localStorage.setItem(ALERTS_KEY, "on");
      startAudio();
      if ("Notification" in window && Notification.permission === "default") {
        await Notification.requestPermission().catch(() => {});
      }
      beep("urgent");
      show();
    });
    if (alertsWanted()) {
      const wake = () => {
        startAudio();
        show();
      };
      document.addEventListener("pointerdown", wake, { once: true });
      document.addEventListener("keydown", wake, { once: true });
    }
    show();
  }

  // --- the queue page ------------------------------------------------------------------

  function liveQueue(list) {
    const liveState = document.getElementById("queue-live-state");
    const items = () => Array.from(list.querySelectorAll("[data-escalation-id]"));
    const known = new Set(items().map((item) => item.dataset.escalationId));
    let busy = false;
    let again = false;

    function announceNew() {
      let loudest = null;
      items().forEach((item) => {
        const id = item.dataset.escalationId;
        if (known.has(id)) return;
        known.add(id);
        if (item.dataset.status !== "open" || !ALERT_LEVELS.includes(item.dataset.level)) return;
        if (alertsWanted()) notify(item);
        if (!loudest || item.dataset.level === "emergency") loudest = item.dataset.level;
      });
      if (loudest && alertsWanted()) beep(loudest);
    }

    async function refresh() {
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      try {
        const reply = await fetch(list.dataset.fragment, { credentials: "same-origin" });
        if (reply.status === 401 || reply.status === 403) {
          liveState.textContent = "Signed out: reload the page to sign in again.";
        } else if (reply.ok) {
          const ticked = new Set(
            Array.from(list.querySelectorAll("input[name=ids]:checked")).map((box) => box.value)
          );
          list.innerHTML = await reply.text();
          list.querySelectorAll("input[name=ids]").forEach((box) => {
            if (ticked.has(box.value)) box.checked = true;
          });
          announceNew();
        }
      } catch (e) {
        // the network dropped for a moment: the stream reconnects and asks again
      }
      busy = false;
      if (again) {
        again = false;
        refresh();
      }
    }

    liveState.textContent = "Live: this list updates as escalations come in.";
    setUpAlerts();
    listen(refresh);
    setInterval(refresh, TIMES_MS);
  }

  // --- an escalation page --------------------------------------------------------------

  function typing() {
    const active = document.activeElement;
    if (active && active.matches("textarea, input:not([type=hidden]), select")) return true;
    return Array.from(document.querySelectorAll("textarea")).some((box) => box.value.trim());
  }

  function liveEscalation(status) {
    const url = "/console/api/escalations/" + status.dataset.escalationId + "/status";

    async function check() {
      try {
        const reply = await fetch(url, { credentials: "same-origin" });
        if (!reply.ok) return;
        const now = await reply.json();
        const changed =
          now.status !== status.dataset.status ||
          String(now.repeat_count) !== status.dataset.repeatCount;
        if (!changed) return;
        if (!typing()) {
          window.location.reload();
          return;
        }
        status.textContent = "";
        const link = document.createElement("a");
        link.href = window.location.pathname;
        link.textContent = "Reload to see it";
        status.append("This escalation changed (now " + now.status + "). ", link, " (what you typed is not saved).");
        status.hidden = false;
      } catch (e) {
        // try again at the next change
      }
    }

    listen(check);
  }

  const list = document.getElementById("queue");
  if (list) liveQueue(list);
  const status = document.getElementById("escalation-live");
  if (status) liveEscalation(status);
})();
