// The replay page (templates/terminal/replay.html): asciinema-player (its bundle, loaded before this
// module, defines window.AsciinemaPlayer) on #player, which carries data-src (the recording's URL) and
// data-start-at (seconds of the recording, from a ?t= deep link; 0 shows the first frame as a poster).
//
// Every time on this page is the recording's own ("recording time"): ?t=, the markers, a flag's offset,
// the review's and the exports' links. The player may compress idle gaps (#compress, on by default and
// remembered): its own clock then runs shorter, so each recording time is mapped onto it (and back) the
// way the player shortens the gaps (asciinema-player's timeLimiter: every pause between two events is cut
// to IDLE_LIMIT seconds). A speed change or the toggle makes a new player at the same recording time. The
// player is window.player; window.replay.recordingTime() is where it is, in recording time.
const IDLE_LIMIT = 5;
const playerEl = document.getElementById("player");
const compressEl = document.getElementById("compress");
const speedEl = document.getElementById("speed");
const src = playerEl.dataset.src;
const requested = Number(playerEl.dataset.startAt) || 0;
compressEl.checked = localStorage.getItem("replay-compress") !== "off";

// The recording's event times (seconds), and each one's time on the compressed clock; its markers.
let real = [0], play = [0];
function readTimes(text) {
  real = [0]; play = [0];
  const markers = [];
  let shift = 0, previous = 0;
  for (const line of text.split("\n").slice(1)) {
    if (!line.trim()) continue;
    let ev;
    try { ev = JSON.parse(line); } catch (e) { continue; }
    if (!Array.isArray(ev)) continue;
    const t = Number(ev[0]);
    if (!Number.isFinite(t) || t < previous) continue;
    if (ev[1] === "m") markers.push([t, ev[2]]);
    if (t - previous > IDLE_LIMIT) shift += t - previous - IDLE_LIMIT;
    previous = t;
    real.push(t); play.push(t - shift);
  }
  return markers;
}
function lastAtOrBefore(times, t) {  // the index of the last time <= t (times ascending, times[0] = 0)
  let lo = 0, hi = times.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (times[mid] <= t) lo = mid; else hi = mid - 1;
  }
  return lo;
}
const duration = () => real[real.length - 1];
// recording time -> the player's clock, and back (identity when nothing is compressed). Within a gap the
// player cut short, its few seconds stand for the whole gap, evenly: a moment in the middle of a long pause
// is still before what ended it, and the round trip gives back the same second.
function between(from, to, t, i) {
  if (i >= from.length - 1) return to[to.length - 1];
  const span = from[i + 1] - from[i];
  return span > 0 ? to[i] + ((t - from[i]) * (to[i + 1] - to[i])) / span : to[i];
}
function toPlayer(t) {
  t = Math.min(Math.max(0, t), duration());
  return compressEl.checked ? between(real, play, t, lastAtOrBefore(real, t)) : t;
}
function toRecording(p, compressed = compressEl.checked) {
  if (!compressed) return p;
  return Math.min(between(play, real, p, lastAtOrBefore(play, p)), duration());
}
function recordingTime() {
  return window.player && window.player.getCurrentTime ? toRecording(window.player.getCurrentTime() || 0) : 0;
}
window.replay = { recordingTime, toPlayer, toRecording };

async function create(at, autoPlay) {
  playerEl.dataset.ready = "false";  // (true again once the new player is where it should be)
  playerEl.innerHTML = "";
  const poster = at > 0 ? undefined : "npt:0:1";
  window.player = AsciinemaPlayer.create(src, playerEl, {
    speed: parseFloat(speedEl.value), idleTimeLimit: compressEl.checked ? IDLE_LIMIT : 1e9,
    fit: "width", preload: true, poster,
  });
  if (at > 0) {
    await window.player.seek(toPlayer(at));
    if (autoPlay) await window.player.play();
  }
  playerEl.dataset.ready = "true";
}

fetch(src).then((r) => r.text()).then((text) => {
  const markers = readTimes(text);
  create(Math.min(requested, duration()), requested > 0 && requested < duration());  // (played at the end, it would start over)
  // Markers as buttons, each seeking to its own recording time.
  const box = document.getElementById("markers");
  for (const [at, label] of markers) {
    const b = document.createElement("button");
    b.className = "outline marker"; b.textContent = `${label} @ ${at.toFixed(1)} s`;
    b.dataset.at = at;
    b.onclick = () => window.player.seek(toPlayer(at));
    box.appendChild(b);
  }
});
speedEl.addEventListener("change", () => create(recordingTime(), true));
compressEl.addEventListener("change", () => {
  // the player's time read with the toggle as it was before this change
  const at = toRecording(window.player ? window.player.getCurrentTime() || 0 : 0, !compressEl.checked);
  localStorage.setItem("replay-compress", compressEl.checked ? "on" : "off");
  create(at, false);
});
// A flag from the replay: at the current recording time.
const flagForm = document.getElementById("flag-from-replay").form;
flagForm.addEventListener("submit", () => {
  flagForm.offset.value = recordingTime().toFixed(3);
});
