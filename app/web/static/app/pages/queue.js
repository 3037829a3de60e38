// The queue: every job of the key, newest first, each with its live progress. A job not yet
// ended gets one WebSocket (live.js); a playlist's, channel's or batch's entries are updated
// from their parent's socket, so a page opens at most one socket per job it lists.
// Titles and error messages come from videos and the API: they only ever become text nodes.

import { ApiError, del, get, post } from "../api.js";
import { h, replace, toast } from "../dom.js";
import { bytes, eta, percent, speed } from "../format.js";
import { PAST_DOWNLOAD, isTerminal, watchJob } from "../live.js";

const PAGE_SIZE = 20;
const ENTRY_PAGE_SIZE = 100;
const ENTRY_REFRESH_MS = 2000;
const STATUSES = ["queued", "processing", "paused", "completed", "failed", "canceled", "expired"];
const STAGES = {
  extracting: "Reading the video page",
  downloading: "Downloading",
  postprocessing: "Processing",
  uploading: "Storing",
  transcribing: "Transcribing",
};
const WAITING = {
  retry_backoff: "Waiting to retry after a passing failure",
  youtube_paused: "Waiting: YouTube asked for a pause",
  low_disk: "Waiting for free disk space on a worker",
  concurrency_cap: "Waiting for earlier entries to finish",
  no_workers: "Waiting for a worker to start",
};
const KINDS = {
  playlist: "Playlist",
  channel: "Channel",
  batch: "Batch",
  subscription_check: "Subscription check",
};
const YOUTUBE_ID = /^[A-Za-z0-9_-]{11}$/;

// The highest figure shown of each running job, kept for the tab's life: the database's
// figure (what a reload lists) trails the live events by a moment, and a bar that was at
// 20% must not step back to 17% when the page is reloaded or the socket reconnects.
const SHOWN_KEY = "yds.shown-progress";

function runOf(job) {
  return `${job.attempts || 0}:${job.retries || 0}`;
}

function shownProgress() {
  try {
    return JSON.parse(sessionStorage.getItem(SHOWN_KEY) || "{}");
  } catch {
    return {};
  }
}

/** The figure to show for `job`: never below what this tab showed of the same run. */
function steadyProgress(job) {
  const shown = shownProgress();
  const seen = shown[job.job_id];
  if (job.status !== "processing") {
    if (seen) {
      delete shown[job.job_id];
      sessionStorage.setItem(SHOWN_KEY, JSON.stringify(shown));
    }
    return job.progress;
  }
  const progress = seen && seen.run === runOf(job) ? Math.max(seen.progress, job.progress || 0) : job.progress || 0;
  if (!seen || seen.progress !== progress || seen.run !== runOf(job)) {
    shown[job.job_id] = { run: runOf(job), progress };
    sessionStorage.setItem(SHOWN_KEY, JSON.stringify(shown));
  }
  return progress;
}

function titleOf(job) {
  return (job.metadata && job.metadata.title) || job.url;
}

function thumbnailOf(job) {
  const stored = (job.files || []).find((file) => file.kind === "thumbnail" && file.state === "ok");
  if (stored) return stored.url;
  const id = job.metadata && job.metadata.video_id;
  return id && YOUTUBE_ID.test(id) ? `https://i.ytimg.com/vi/${id}/mqdefault.jpg` : null;
}

function queryPath(status, offset) {
  const query = new URLSearchParams();
  if (status) query.set("status", status);
  if (offset) query.set("offset", String(offset));
  const text = query.toString();
  return text ? `/?${text}` : "/";
}

function countsText(children) {
  if (!children) return "";
  const parts = ["queued", "processing", "paused", "completed", "failed", "canceled", "skipped"]
    .filter((name) => children[name])
    .map((name) => `${children[name]} ${name}`);
  const total = `${children.total} ${children.total === 1 ? "entry" : "entries"}`;
  return parts.length ? `${total}: ${parts.join(", ")}` : total;
}

/** The moving parts of a job's progress: the bar, its figure and the line under it. */
function progressView(label) {
  const bar = h("progress", { max: "100", value: "0", "aria-label": label });
  const figure = h("span", { class: "figure" }, "0%");
  const line = h("span", { class: "stage-line" });
  const node = h("div", { class: "progress-row" }, bar, figure, line);
  return {
    node,
    label(text) {
      bar.setAttribute("aria-label", text);
    },
    show(state) {
      const value = state.status === "completed" ? 100 : Math.max(0, Math.min(100, state.progress || 0));
      bar.value = value;
      figure.textContent = percent(value);
      const parts = [];
      if (state.status === "processing" && state.stage) parts.push(STAGES[state.stage] || state.stage);
      if (state.status === "processing" && state.stage === "downloading") {
        if (state.total_bytes) parts.push(`${bytes(state.downloaded_bytes || 0)} of ${bytes(state.total_bytes)}`);
        if (state.speed) parts.push(speed(state.speed));
        if (state.eta !== null && state.eta !== undefined) parts.push(eta(state.eta));
      }
      line.textContent = parts.join(" · ");
      node.hidden = ["failed", "canceled", "expired"].includes(state.status) && !value;
    },
  };
}

/** A playlist's entry, updated by its parent's events. */
function entryRow(entry) {
  const state = { ...entry };
  const link = h("a", { href: `/jobs/${entry.job_id}` });
  const badge = h("span", { class: "badge" });
  const progress = progressView("");
  const error = h("p", { class: "error" });
  const waiting = h("p", { class: "waiting muted" });
  const node = h(
    "li",
    { class: "entry", dataset: { jobId: entry.job_id } },
    h("span", { class: "position" }, entry.position ? `${entry.position}.` : ""),
    h("div", { class: "entry-main" }, link, badge, progress.node, waiting, error),
  );
  function show() {
    link.textContent = titleOf(state);
    badge.className = `badge ${state.status}`;
    badge.textContent = state.status;
    progress.label(`Progress of ${titleOf(state)}`);
    progress.show(state);
    error.textContent = state.status === "failed" && state.error ? state.error.message : "";
    error.hidden = !error.textContent;
    waiting.textContent = state.status === "queued" && state.waiting_reason ? WAITING[state.waiting_reason] || state.waiting_reason : "";
    waiting.hidden = !waiting.textContent;
  }
  show();
  return {
    node,
    update(fields) {
      Object.assign(state, fields);
      show();
    },
  };
}

/** One job's card: what it is, where it stands, what can be done with it. */
function jobCard(initial, { ctx, announce, onRemoved }) {
  let job = { ...initial };
  let watcher = null;
  let entries = null; // Map job_id -> entry row, once expanded
  let entriesLoading = null;
  let refreshTimer = null;

  const titleLink = h("a", { href: `/jobs/${job.job_id}` });
  const thumb = h("img", { class: "thumb", alt: "", loading: "lazy", width: "160", height: "90" });
  thumb.addEventListener("error", () => {
    thumb.hidden = true;
  });
  const badge = h("span", { class: "badge" });
  // Only a priority other than normal is shown; not a .badge (that one is the status).
  const priority = h("span", { class: "priority-tag", hidden: true });
  const kind = h("span", { class: "kind muted" });
  const progress = progressView("");
  const waiting = h("p", { class: "waiting muted" });
  const error = h("p", { class: "error job-error" });
  const counts = h("p", { class: "counts" });
  const entriesList = h("ol", { class: "entries", id: `entries-${job.job_id}`, hidden: true });
  const toggle = h("button", {
    type: "button",
    class: "button small subtle",
    "aria-expanded": "false",
    "aria-controls": entriesList.id,
  });
  const actions = h("div", { class: "actions" });
  const actionError = h("p", { class: "error action-error", role: "alert" });
  const node = h(
    "li",
    { class: "job card", dataset: { jobId: job.job_id } },
    thumb,
    h(
      "div",
      { class: "job-main" },
      h("h2", { class: "job-title" }, titleLink),
      h("p", { class: "job-meta" }, badge, " ", priority, " ", kind),
      progress.node,
      waiting,
      error,
      counts,
      toggle,
      entriesList,
      actions,
      actionError,
    ),
  );

  function show() {
    const title = titleOf(job);
    titleLink.textContent = title;
    const src = thumbnailOf(job);
    if (src && thumb.getAttribute("src") !== src) {
      thumb.hidden = false;
      thumb.setAttribute("src", src);
    }
    thumb.hidden = thumb.hidden || !src;
    badge.className = `badge ${job.status}`;
    badge.textContent =
      job.cancel_requested && !isTerminal(job.status)
        ? "canceling"
        : job.pause_requested && job.status === "processing"
          ? "pausing"
          : job.status;
    const level = job.priority || "normal";
    priority.className = `priority-tag ${level}`;
    priority.textContent = `${level} priority`;
    priority.hidden = level === "normal";
    const channel = job.metadata && job.metadata.channel_name;
    kind.textContent = [KINDS[job.kind], channel].filter(Boolean).join(" · ");
    progress.label(`Progress of ${title}`);
    progress.show({ ...job, progress: steadyProgress(job) });
    waiting.textContent =
      job.status === "queued" && job.waiting_reason ? WAITING[job.waiting_reason] || job.waiting_reason : "";
    waiting.hidden = !waiting.textContent;
    error.textContent = job.status === "failed" && job.error ? job.error.message : "";
    error.hidden = !error.textContent;
    const parent = job.kind !== "video";
    counts.textContent = parent ? countsText(job.children) : "";
    counts.hidden = !counts.textContent;
    toggle.hidden = !parent || !(job.children && job.children.total);
    toggle.textContent = entries && !entriesList.hidden ? "Hide entries" : "Show entries";
    showActions();
  }

  function showActions() {
    const buttons = [];
    if (pausable(job)) {
      buttons.push(h("button", { type: "button", class: "button small", onclick: pause }, "Pause"));
    }
    if (job.status === "paused") {
      buttons.push(h("button", { type: "button", class: "button small", onclick: resume }, "Resume"));
    }
    if (!isTerminal(job.status) && !job.cancel_requested) {
      buttons.push(h("button", { type: "button", class: "button small", onclick: cancel }, "Cancel"));
    }
    const retryable = ["failed", "canceled"].includes(job.status) || (job.status === "completed" && job.damaged_files);
    if (retryable || (job.kind !== "video" && isTerminal(job.status) && job.children && (job.children.failed || job.children.canceled))) {
      buttons.push(h("button", { type: "button", class: "button small", onclick: retry }, "Retry"));
    }
    if (isTerminal(job.status)) {
      buttons.push(h("button", { type: "button", class: "button small danger", onclick: askDelete }, "Delete"));
    }
    replace(actions, buttons);
    actions.hidden = !buttons.length;
  }

  async function act(work) {
    actionError.textContent = "";
    for (const button of actions.querySelectorAll("button")) button.disabled = true;
    try {
      await work();
    } catch (failure) {
      if (failure.name === "AbortError") return;
      actionError.textContent = failure.message;
    } finally {
      for (const button of actions.querySelectorAll("button")) button.disabled = false;
    }
  }

  function cancel() {
    return act(async () => {
      const updated = await del(`/api/v1/downloads/${job.job_id}`, { signal: ctx.signal });
      if (updated) setJob(updated);
      announce(`${titleOf(job)}: canceling`);
    });
  }

  function pause() {
    return act(async () => {
      setJob(await post(`/api/v1/downloads/${job.job_id}/pause`, undefined, { signal: ctx.signal }));
      announce(`${titleOf(job)}: ${job.status === "paused" ? "paused" : "pausing"}`);
    });
  }

  function resume() {
    return act(async () => {
      setJob(await post(`/api/v1/downloads/${job.job_id}/resume`, undefined, { signal: ctx.signal }));
      announce(`${titleOf(job)}: resumed`);
    });
  }

  function retry() {
    return act(async () => {
      setJob(await post(`/api/v1/downloads/${job.job_id}/retry`, undefined, { signal: ctx.signal }));
      announce(`${titleOf(job)}: queued again`);
    });
  }

  function askDelete() {
    const title = titleOf(job);
    const confirm = h(
      "button",
      { type: "button", class: "button small danger", onclick: () => act(remove) },
      "Delete for good",
    );
    const keep = h("button", { type: "button", class: "button small", onclick: showActions }, "Keep");
    replace(
      actions,
      h("span", { class: "confirm-text" }, "Delete this job and its files?"),
      confirm,
      keep,
    );
    confirm.setAttribute("aria-label", `Delete ${title} and its files for good`);
    confirm.focus();
  }

  async function remove() {
    const updated = await del(`/api/v1/downloads/${job.job_id}`, { signal: ctx.signal });
    if (updated) {
      setJob(updated); // it was running after all: canceled instead
      return;
    }
    stopWatching();
    node.remove();
    toast(`Deleted: ${titleOf(job)}`, "ok");
    onRemoved();
  }

  function setJob(updated) {
    job = { ...job, ...updated };
    show();
    if (isTerminal(job.status)) stopWatching();
    else startWatching();
  }

  async function reload() {
    try {
      setJob(await get(`/api/v1/downloads/${job.job_id}`, { signal: ctx.signal }));
      if (entries) scheduleEntries();
    } catch (failure) {
      if (failure.name !== "AbortError" && failure.status === 404) node.remove();
    }
  }

  function onMessage(message) {
    if (message.type === "snapshot") {
      const before = job.status;
      job = { ...job, ...message.job };
      show();
      if (before !== job.status) announce(`${titleOf(job)}: ${job.status}`);
      return;
    }
    if (message.parent_id && message.job_id !== job.job_id) {
      onEntryEvent(message);
      return;
    }
    const before = job.status;
    const fields = { status: message.status, stage: message.stage, progress: message.progress };
    for (const name of ["downloaded_bytes", "total_bytes", "speed", "eta", "waiting_reason"]) {
      if (name in message) fields[name] = message[name];
    }
    if (message.type === "aggregate" && message.children) fields.children = message.children;
    if (message.type === "status") fields.error = message.error || null;
    if (message.priority) fields.priority = message.priority; // raised for its long wait
    job = { ...job, ...fields };
    show();
    if (before !== job.status) announce(`${titleOf(job)}: ${job.status}`);
    // A stage or status change may bring a title, a thumbnail, files: read the job again.
    if (message.type === "stage" || (message.type === "status" && isTerminal(message.status))) reload();
  }

  function onEntryEvent(message) {
    if (!entries) return;
    const row = entries.get(message.job_id);
    if (!row) {
      scheduleEntries(); // the expansion added it since
      return;
    }
    const fields = { status: message.status, stage: message.stage, progress: message.progress };
    for (const name of ["downloaded_bytes", "total_bytes", "speed", "eta", "waiting_reason"]) {
      if (name in message) fields[name] = message[name];
    }
    if (message.type === "status") fields.error = message.error || null;
    row.update(fields);
    if (message.type === "stage" || message.type === "status") scheduleEntries();
  }

  // Entries are read again (titles, new entries) at most every few seconds however busy
  // the family's stream is; their figures move with the events meanwhile.
  function scheduleEntries() {
    if (refreshTimer) return;
    refreshTimer = setTimeout(() => {
      refreshTimer = null;
      loadEntries().catch(() => {});
    }, ENTRY_REFRESH_MS);
  }

  async function loadEntries() {
    if (entriesLoading) return entriesLoading;
    entriesLoading = (async () => {
      const all = [];
      for (let offset = 0; ; offset += ENTRY_PAGE_SIZE) {
        const page = await get("/api/v1/downloads", {
          query: { parent_id: job.job_id, limit: ENTRY_PAGE_SIZE, offset },
          signal: ctx.signal,
        });
        all.push(...page.items);
        if (all.length >= page.total || !page.items.length) break;
      }
      const next = new Map();
      for (const entry of all) {
        const row = (entries && entries.get(entry.job_id)) || entryRow(entry);
        row.update(entry);
        next.set(entry.job_id, row);
      }
      entries = next;
      replace(entriesList, [...next.values()].map((row) => row.node));
    })();
    try {
      await entriesLoading;
    } finally {
      entriesLoading = null;
    }
    return undefined;
  }

  toggle.addEventListener("click", async () => {
    const opening = entriesList.hidden;
    entriesList.hidden = !opening;
    toggle.setAttribute("aria-expanded", String(opening));
    toggle.textContent = opening ? "Hide entries" : "Show entries";
    if (opening) {
      if (!entries) replace(entriesList, h("li", { class: "loading" }, "Loading entries…"));
      try {
        await loadEntries();
      } catch (failure) {
        if (failure.name !== "AbortError") replace(entriesList, h("li", { class: "error" }, failure.message));
      }
    }
  });

  function startWatching() {
    if (watcher || isTerminal(job.status)) return;
    watcher = watchJob(job.job_id, {
      signal: ctx.signal,
      onMessage,
      onState(state) {
        node.classList.toggle("reconnecting", state === "reconnecting");
        if (state === "ended" || state === "refused") {
          watcher = null;
          if (state === "ended") reload();
        }
      },
    });
  }

  function stopWatching() {
    if (watcher) watcher.close();
    watcher = null;
  }

  show();
  startWatching();
  return {
    node,
    close() {
      clearTimeout(refreshTimer);
      stopWatching();
    },
  };
}

function filterForm(status, ctx) {
  const select = h(
    "select",
    { id: "status-filter", name: "status" },
    h("option", { value: "" }, "All jobs"),
    STATUSES.map((name) => h("option", { value: name }, name[0].toUpperCase() + name.slice(1))),
  );
  select.value = status;
  select.addEventListener("change", () => ctx.navigate(queryPath(select.value, 0)));
  return h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter jobs" },
    h("label", { for: "status-filter" }, "Status"),
    select,
  );
}

function pager(status, offset, page) {
  const links = [];
  if (offset > 0) {
    links.push(h("a", { class: "button small", href: queryPath(status, Math.max(0, offset - PAGE_SIZE)) }, "Newer"));
  }
  if (offset + page.items.length < page.total) {
    links.push(h("a", { class: "button small", href: queryPath(status, offset + PAGE_SIZE) }, "Older"));
  }
  const range = page.items.length
    ? `${offset + 1}–${offset + page.items.length} of ${page.total}`
    : `0 of ${page.total}`;
  return h("nav", { class: "pager", "aria-label": "Pages" }, h("span", { class: "muted" }, range), links);
}

export async function render(root, ctx) {
  const asked = ctx.query.get("status") || "";
  const status = STATUSES.includes(asked) ? asked : "";
  const offset = Math.max(0, Number.parseInt(ctx.query.get("offset") || "0", 10) || 0);
  const announcer = h("p", { class: "visually-hidden", role: "status", "aria-live": "polite" });
  const announce = (text) => {
    announcer.textContent = text;
  };
  const body = h("div", { class: "queue-body" }, h("p", { class: "loading" }, "Loading…"));
  root.append(
    h(
      "div",
      { class: "queue-head" },
      h("h1", {}, "Queue"),
      h("a", { class: "button primary", href: "/submit" }, "New download"),
    ),
    filterForm(status, ctx),
    announcer,
    body,
  );

  let page;
  try {
    page = await get("/api/v1/downloads", {
      query: { status, limit: PAGE_SIZE, offset },
      signal: ctx.signal,
    });
  } catch (failure) {
    if (failure instanceof ApiError) {
      replace(body, h("p", { class: "error", role: "alert" }, failure.message));
      return undefined;
    }
    throw failure;
  }
  // Back in the tab: jobs queued meanwhile (another tab, the CLI, a share) are listed.
  async function catchUp() {
    if (document.visibilityState !== "visible" || offset) return;
    try {
      const latest = await get("/api/v1/downloads", { query: { status, limit: 1 }, signal: ctx.signal });
      if (latest.total !== page.total || (latest.items[0] && latest.items[0].job_id !== (page.items[0] || {}).job_id)) {
        ctx.navigate(queryPath(status, offset), { replaceState: true });
      }
    } catch {
      /* the next visit tries again */
    }
  }
  document.addEventListener("visibilitychange", catchUp, { signal: ctx.signal });

  if (!page.items.length) {
    replace(
      body,
      h(
        "p",
        { class: "empty" },
        status ? `No ${status} jobs. ` : "Nothing here yet. ",
        h("a", { href: "/submit" }, "Download a video, a playlist or a channel"),
        ".",
      ),
      offset ? pager(status, offset, page) : null,
    );
    return undefined;
  }
  const cards = [];
  const list = h("ul", { class: "jobs" });
  let shown = page.items.length;
  for (const job of page.items) {
    const card = jobCard(job, {
      ctx,
      announce,
      onRemoved() {
        shown -= 1;
        if (!shown) ctx.navigate(queryPath(status, Math.max(0, offset - PAGE_SIZE)), { replaceState: true });
      },
    });
    cards.push(card);
    list.append(card.node);
  }
  replace(body, list, pager(status, offset, page));

  return () => cards.forEach((card) => card.close());
}

/** A queued or running download whose owner may pause it (not one only transcribing). */
function pausable(job) {
  return (
    ["queued", "processing"].includes(job.status) &&
    !job.cancel_requested &&
    !job.pause_requested &&
    !PAST_DOWNLOAD.has(job.stage)
  );
}
