// A job's live progress over its WebSocket (/ws/progress/{id}), kept open across drops.
// The first message is a snapshot of the job; progress, stage, status and aggregate events
// follow (a playlist's, channel's or batch's stream also carries its entries' events, with
// parent_id). A dropped socket reconnects with backoff and `?after=<last seq>`, so the
// server replays what was missed (or sends a fresh snapshot when it no longer can).

import { socketUrl } from "./api.js";

// Close codes after which reconnecting cannot help (README, Progress streams).
const FINAL_CODES = new Set([1000, 4401, 4403, 4404]);
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;
// The server says "reconnect in 5 s" for these (Redis or the database unavailable).
const SERVER_BUSY_CODE = 1013;
const SERVER_BUSY_DELAY_MS = 5000;

/**
 * Watch one job until it ends, `signal` aborts, or `close()` is called.
 * onMessage(message) gets the snapshot and every event, in order. onState(state) gets
 * "connecting" | "live" | "reconnecting" | "ended" | "refused" (with the close reason).
 * `after` resumes after a seq already seen (as a page that just listed the job has none).
 */
export function watchJob(jobId, { signal, onMessage, onState = () => {}, after = null } = {}) {
  let lastSeq = after;
  let socket = null;
  let timer = null;
  let attempts = 0;
  let closed = false;

  function connect() {
    if (closed) return;
    const query = lastSeq === null || lastSeq === undefined ? "" : `?after=${lastSeq}`;
    onState(attempts ? "reconnecting" : "connecting");
    socket = new WebSocket(socketUrl(`/ws/progress/${encodeURIComponent(jobId)}${query}`));
    socket.addEventListener("open", () => onState("live"));
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      attempts = 0;
      if (typeof message.seq === "number" && (lastSeq === null || message.seq > lastSeq)) {
        lastSeq = message.seq;
      }
      onMessage(message);
    });
    socket.addEventListener("close", (event) => {
      socket = null;
      if (closed) return;
      if (FINAL_CODES.has(event.code)) {
        closed = true;
        onState(event.code === 1000 ? "ended" : "refused", event.reason || "");
        return;
      }
      onState("reconnecting", event.reason || "");
      attempts += 1;
      const backoff = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (attempts - 1));
      const delay = event.code === SERVER_BUSY_CODE ? Math.max(backoff, SERVER_BUSY_DELAY_MS) : backoff;
      // Jitter, so the sockets of a page (and of many pages) do not come back in step.
      timer = setTimeout(connect, delay * (0.75 + Math.random() * 0.5));
    });
  }

  function close() {
    closed = true;
    clearTimeout(timer);
    if (socket) socket.close(1000);
    socket = null;
  }

  if (signal) {
    if (signal.aborted) return { close, lastSeq: () => lastSeq };
    signal.addEventListener("abort", close, { once: true });
  }
  connect();
  return { close, lastSeq: () => lastSeq };
}

/** A job's stream ends with it: these statuses get no more events. */
export const TERMINAL = new Set(["completed", "failed", "canceled", "expired"]);

/** Stages past the download: the job finishes, it cannot be paused (409 job_not_pausable). */
export const PAST_DOWNLOAD = new Set(["uploading", "transcribing"]);

export function isTerminal(status) {
  return TERMINAL.has(status);
}
