// A contractor's session page (templates/baselining/session.html): the working-time clock, polled every
// 5 s; while the scorer runs, a reload as soon as the outcome is there; while the session is live (or
// created), the terminal, and a reload when its sandbox could not start (the page then offers a retry).
// #clock carries data-url (the clock's JSON) and data-session-state; #terminal carries data-ws-path and
// data-read-only ("true" unless the viewer owns the session).
import { wireForms } from "./forms.js";

wireForms();
// The instructions beside the terminal stay open unless the contractor folds them (remembered).
const instructions = document.getElementById("instructions");
if (instructions) {
  if (localStorage.getItem("instructions") === "folded") instructions.open = false;
  instructions.addEventListener("toggle", () => {
    localStorage.setItem("instructions", instructions.open ? "open" : "folded");
  });
}
const clockEl = document.getElementById("clock"), stateEl = document.getElementById("clock-state");
const sessionState = clockEl.dataset.sessionState;
async function tick() {
  try {
    const doc = await (await fetch(clockEl.dataset.url, { credentials: "same-origin" })).json();
    clockEl.textContent = `${Math.round(doc.working_seconds)} s`;
    stateEl.textContent = doc.label;
  } catch (e) {}
}
setInterval(tick, 5000);
// Reload as soon as the server's state of the session is none of `states` (polled every second).
let polling = false;
function reloadWhenStateLeaves(states) {
  if (polling) return;
  polling = true;
  setInterval(async () => {
    const doc = await (await fetch(clockEl.dataset.url, { credentials: "same-origin" })).json();
    if (!states.includes(doc.session_state)) location.reload();
  }, 1000);
}
// The scorer runs as a job: show the outcome as soon as it is there.
if (sessionState === "scoring") reloadWhenStateLeaves(["scoring"]);
if (sessionState === "live" || sessionState === "created") {
  const { mountTerminalFromPage } = await import("./terminal.js");
  const client = mountTerminalFromPage(document.getElementById("terminal"), {
    onStatus: (st) => {
      tick();
      // The sandbox could not start: once that is recorded, the page says why and offers a retry.
      if (st.state === "failed" || (st.state === "ended" && sessionState === "created")) {
        reloadWhenStateLeaves(["created", "live"]);
      }
    },
  });
  // back from the page's controls (Shift+Esc left the terminal) by keyboard
  const back = document.getElementById("to-terminal");
  if (back) back.addEventListener("click", () => client.term.focus());
}
