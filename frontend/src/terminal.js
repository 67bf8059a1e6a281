// Our terminal client: xterm.js 6 + fit (+ WebGL, DOM fallback), binary frames, flow-control acks from
// term.write callbacks, resize, reconnect with backoff resuming after the last byte received.
// The wire protocol is in docs/terminal-protocol.md.
import { Terminal } from "../vendor/xterm/xterm.mjs";
import { FitAddon } from "../vendor/xterm/addon-fit.mjs";
import { WebglAddon } from "../vendor/xterm/addon-webgl.mjs";

const C = { INPUT: 0x69, RESIZE: 0x72, ACK: 0x61, HELLO: 0x68, OUTPUT: 0x6f, STATUS: 0x73, RESET: 0x78 };
const ACK_EVERY = 64 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

// WebGL drawn by the GPU; a software WebGL (SwiftShader, as headless or GPU-less Chromium has; llvmpipe)
// drew the terminal blank at a device pixel ratio of 2 (a HiDPI screen, or a page zoomed to 200%): measured,
// tests/e2e/test_keyboard_phone_browser.py. The DOM renderer draws everywhere, so it is used there.
function hardwareWebGL() {
  try {
    const gl = document.createElement("canvas").getContext("webgl2");
    if (!gl) return false;
    const info = gl.getExtension("WEBGL_debug_renderer_info");
    const name = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : "";
    const lose = gl.getExtension("WEBGL_lose_context");
    if (lose) lose.loseContext();  // (this probe's context only)
    return !/swiftshader|llvmpipe|softpipe|software/i.test(name);
  } catch (e) { return false; }
}

export function mountTerminal(el, { url, statusEl, readOnly = false, onStatus = () => {} }) {
  const term = new Terminal({ cursorBlink: !readOnly, fontSize: 14, scrollback: 5000, disableStdin: readOnly,
    fontFamily: "ui-monospace, 'DejaVu Sans Mono', Menlo, monospace", theme: { background: "#111827" } });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(el);
  let renderer = "dom";
  if (hardwareWebGL()) {
    try {
      const gl = new WebglAddon();
      gl.onContextLoss(() => gl.dispose());
      term.loadAddon(gl);
      renderer = "webgl";
    } catch (e) { renderer = "dom"; }
  }
  fit.fit();
  // Keyboard users: Shift+Esc leaves the terminal for the page's controls (the element marked
  // data-terminal-exit, else just out), and Tab passes the terminal by (it takes Tab itself, for the shell).
  term.attachCustomKeyEventHandler((e) => {
    if (e.type === "keydown" && e.key === "Escape" && e.shiftKey) {
      e.preventDefault();
      term.blur();
      const exit = document.querySelector("[data-terminal-exit]");
      if (exit) exit.focus();
      return false;
    }
    return true;
  });
  // (only where the page has the way back: its controls, and a "Back to the terminal" button)
  if (term.textarea && document.querySelector("[data-terminal-exit]")) term.textarea.tabIndex = -1;

  let ws = null, attempts = 0, final = false, retryTimer = null;
  let received = 0, rendered = 0, acked = 0, ackTimer = null, afterReset = false;
  let state = { state: "connecting", input: false, role: readOnly ? "watcher" : "owner" };
  let conn = "connecting";
  let notice = "";

  function frame(type, payload) {
    const out = new Uint8Array(1 + payload.length);
    out[0] = type; out.set(payload, 1);
    return out;
  }
  function send(type, payload) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(frame(type, payload));
  }
  function json(obj) { return encoder.encode(JSON.stringify(obj)); }
  function u64(n) { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(n)); return b; }
  function sendAck() {
    ackTimer = null;
    if (rendered > acked) { acked = rendered; send(C.ACK, u64(rendered)); }
  }
  function render() {
    const parts = [conn];
    if (state.state === "queued") {
      parts.push(`waiting to start your sandbox: ${state.position === 1 ? "you are next" : `number ${state.position} in line`}`);
    } else if (state.state === "starting") parts.push("starting your sandbox");
    else if (state.state && state.state !== "live") parts.push(state.state + (state.reason ? `: ${state.reason}` : ""));
    if (state.role === "watcher") parts.push("read-only");
    else if (state.state === "live" && !state.input) parts.push("input paused" + (state.reason ? `: ${state.reason}` : ""));
    if (state.clock_text) parts.push(state.clock_text);
    if (notice) parts.push(notice);
    statusEl.textContent = parts.join(" · ");
    statusEl.dataset.state = state.state || "";
    statusEl.dataset.conn = conn;
  }

  function onOutput(buf) {
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const offset = Number(view.getBigUint64(1));
    let data = buf.subarray(9);
    if (afterReset) { received = offset; rendered = offset; acked = offset; afterReset = false; }
    const end = offset + data.length;
    if (end <= received) return;               // already have it (resent after a reconnect)
    if (offset < received) data = data.subarray(received - offset);
    else if (offset > received) { received = offset; } // the host skipped ahead after a reset
    received = end;
    term.write(data, () => {
      rendered = Math.max(rendered, end);
      if (rendered - acked >= ACK_EVERY) sendAck();
      else if (!ackTimer) ackTimer = setTimeout(sendAck, 50);
    });
  }

  function connect() {
    retryTimer = null;
    conn = attempts ? "reconnecting" : "connecting"; render();
    ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      attempts = 0; conn = "connected"; reconnected(); render();
      send(C.HELLO, json({ offset: received, cols: term.cols, rows: term.rows }));
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") return;
      const buf = new Uint8Array(ev.data);
      if (buf[0] === C.OUTPUT) onOutput(buf);
      else if (buf[0] === C.RESET) { term.reset(); afterReset = true; }
      else if (buf[0] === C.STATUS) {
        const doc = JSON.parse(decoder.decode(buf.subarray(1)));
        if (doc.error || doc.refused) { notice = doc.error || doc.refused; setTimeout(() => { notice = ""; render(); }, 4000); }
        if (doc.state) { state = Object.assign({}, state, doc); }
        if (doc.state === "ended" || doc.state === "failed" || doc.state === "new") final = true;
        render(); onStatus(state);
      }
    };
    ws.onclose = (ev) => {
      ws = null;
      if (final || ev.code === 4403 || ev.code === 4000) { conn = final ? "closed" : "not allowed"; render(); return; }
      const delay = Math.min(10000, 250 * 2 ** attempts) * (0.75 + Math.random() / 2);
      attempts += 1; conn = `disconnected, retrying in ${Math.round(delay / 1000)} s`; render();
      retryTimer = setTimeout(connect, delay);
    };
  }

  // Keys typed while the connection is down are not kept to be sent later (commands typed blind would run
  // on reconnect): they are refused, and the status line says how many, until a little after reconnecting.
  let dropped = 0, droppedTimer = null;
  function typed(bytes) {
    if (readOnly) return;
    if (ws && ws.readyState === WebSocket.OPEN) { send(C.INPUT, bytes); return; }
    dropped += bytes.length;  // (a paste counts every character it would have sent)
    notice = `not connected: ${dropped} character${dropped === 1 ? "" : "s"} not sent (type ${dropped === 1 ? "it" : "them"} again once connected)`;
    statusEl.dataset.dropped = String(dropped);
    render();
  }
  function reconnected() {
    if (!dropped) return;
    dropped = 0;
    clearTimeout(droppedTimer);
    droppedTimer = setTimeout(() => { notice = ""; render(); }, 6000);
  }
  term.onData((s) => typed(encoder.encode(s)));
  term.onBinary((s) => typed(Uint8Array.from(s, (c) => c.charCodeAt(0) & 255)));
  term.onResize(({ cols, rows }) => { if (!readOnly) send(C.RESIZE, json({ cols, rows })); });
  let fitTimer = null;
  window.addEventListener("resize", () => { clearTimeout(fitTimer); fitTimer = setTimeout(() => fit.fit(), 100); });
  window.addEventListener("online", () => { if (!ws && retryTimer) { clearTimeout(retryTimer); connect(); } });

  connect();
  term.focus();
  const api = {
    term, renderer,
    text() {
      const b = term.buffer.active, lines = [];
      for (let i = 0; i < b.length; i++) lines.push(b.getLine(i).translateToString(true));
      return lines.join("\n");
    },
    get received() { return received; },
    get rendered() { return rendered; },
    drop() { if (ws) ws.close(); },
  };
  window.terminalClient = api;
  return api;
}

// Mounts the terminal on a page's element that carries data-ws-path (the session's WebSocket path) and
// data-read-only ("true" for a watcher); status text goes to #term-status.
export function mountTerminalFromPage(el, { onStatus = () => {} } = {}) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return mountTerminal(el, {
    url: `${proto}//${location.host}${el.dataset.wsPath}`,
    statusEl: document.getElementById("term-status"),
    readOnly: el.dataset.readOnly === "true",
    onStatus,
  });
}
