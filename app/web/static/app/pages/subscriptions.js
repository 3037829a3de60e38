// Subscriptions (/api/v1/subscriptions): follow a channel or a playlist, and see each one's
// state. The form previews the URL (GET /api/v1/info) and sends only what the user changed,
// so everything else keeps the API's defaults. Each card shows the last and next check, the
// counts and the last error; it pauses, resumes, checks now (with a link to the check's
// job), deletes after a confirmation, and publishes or revokes the podcast feed. A feed URL
// is secret and shown once: it lives in this page's memory only, never in storage.

import { del, get, patch, post } from "../api.js";
import { h, replace, toast } from "../dom.js";
import { when } from "../format.js";

const LOOKUP_DELAY_MS = 500;
const REFRESH_MS = 3000; // while a check runs, its card is read again this often
const PAGE_LIMIT = 100;
const DEFAULT_INTERVAL = 60;
const TERMINAL = new Set(["completed", "failed", "canceled", "expired"]);
const QUALITIES = ["best", "worst", "2160p", "1440p", "1080p", "720p", "480p", "360p"];
const DEFAULT_LANGUAGES = ["en"];
// Where a validation error's `loc` points: the control that shows it.
const FIELDS = [
  "url",
  "name",
  "quality",
  "audio_only",
  "subtitle_languages",
  "uploaded_after",
  "include_shorts",
  "include_live",
  "title_include",
  "title_exclude",
  "min_duration",
  "max_duration",
  "max_per_check",
  "check_interval_minutes",
  "backfill",
  "keep_last",
];

function field(name, label, control, help) {
  control.id = control.id || `sub-${name}`;
  control.name = name;
  const error = h("p", { class: "field-error", id: `sub-${name}-error` });
  const described = [help ? `sub-${name}-help` : null, `sub-${name}-error`].filter(Boolean).join(" ");
  control.setAttribute("aria-describedby", described);
  const node = h(
    "div",
    { class: "field" },
    h("label", { for: control.id }, label),
    control,
    help ? h("p", { class: "help", id: `sub-${name}-help` }, help) : null,
    error,
  );
  return { name, control, error, node };
}

function checkbox(name, label) {
  const control = h("input", { type: "checkbox", id: `sub-${name}`, name });
  const error = h("p", { class: "field-error", id: `sub-${name}-error` });
  control.setAttribute("aria-describedby", `sub-${name}-error`);
  const node = h("div", { class: "check" }, h("label", { class: "inline", for: control.id }, control, label), error);
  return { name, control, error, node };
}

function text(attrs = {}) {
  return h("input", { type: "text", autocomplete: "off", spellcheck: "false", ...attrs });
}

function number(attrs = {}) {
  return h("input", { type: "number", inputmode: "numeric", ...attrs });
}

/** The number typed, null when empty, or the raw text for the API to refuse in its words. */
function numberValue(input) {
  if (input.value.trim()) return Number(input.value);
  return input.validity.badInput ? "not a number" : null;
}

function nameOf(sub) {
  return sub.name || sub.url;
}

function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

function stateOf(sub) {
  if (sub.paused) return { label: "Paused", kind: "canceled" };
  if (sub.checking) return { label: "Checking", kind: "processing" };
  if (sub.last_error) return { label: "Last check failed", kind: "failed" };
  return { label: "Active", kind: "completed" };
}

function countsText(counts = {}) {
  const parts = [
    `${counts.downloaded ?? 0} downloaded`,
    `${counts.pending ?? 0} pending`,
    `${counts.failed ?? 0} failed`,
    `${counts.seen ?? 0} seen`,
  ];
  return parts.join(" · ");
}

function kindText(sub) {
  const kind = sub.kind === "playlist" ? "Playlist" : "Channel";
  return sub.tab ? `${kind} (${sub.tab})` : kind;
}

/** What it downloads and which uploads it takes, in a line each (empty: the defaults). */
function optionsText(sub) {
  const options = sub.options || {};
  const parts = [];
  if (options.audio_only) parts.push("audio only");
  if (options.quality && options.quality !== "best") parts.push(options.quality);
  const languages = options.subtitle_languages;
  if (languages) parts.push(`transcripts: ${Array.isArray(languages) ? languages.join(", ") || "none" : languages}`);
  if (sub.keep_last) parts.push(`keeps the newest ${sub.keep_last}`);
  if (sub.priority && sub.priority !== "normal") parts.push(`${sub.priority} priority`);
  return parts.join(" · ");
}

function filtersText(filters = {}) {
  const parts = [];
  if (filters.uploaded_after) parts.push(`uploaded after ${filters.uploaded_after}`);
  if (filters.include_shorts) parts.push("with shorts");
  if (filters.include_live) parts.push("with live streams");
  if (filters.title_include) parts.push(`title matches ${filters.title_include}`);
  if (filters.title_exclude) parts.push(`title does not match ${filters.title_exclude}`);
  if (filters.min_duration != null) parts.push(`at least ${filters.min_duration} s`);
  if (filters.max_duration != null) parts.push(`at most ${filters.max_duration} s`);
  if (filters.max_per_check != null) parts.push(`at most ${filters.max_per_check} a check`);
  return parts.join(" · ");
}

function fact(term, ...value) {
  return [h("dt", {}, term), h("dd", {}, ...value)];
}

function previewView(info) {
  const thumbs = (info.thumbnails || []).filter((t) => t.url);
  const fitting = thumbs.filter((t) => !t.width || t.width <= 480);
  const thumb = (fitting.length ? fitting : thumbs).slice(-1)[0];
  const facts = [];
  if (info.is_playlist) {
    const count = info.entry_count ?? info.playlist_count;
    facts.push(count === undefined || count === null ? "Channel or playlist" : plural(count, "video", "videos"));
  }
  if (info.channel_name) facts.push(info.channel_name);
  const image = thumb ? h("img", { class: "thumb", src: thumb.url, alt: "", width: "160", height: "90" }) : null;
  if (image) image.addEventListener("error", () => image.remove());
  return h(
    "div",
    { class: "preview-card" },
    image,
    h(
      "div",
      {},
      h("p", { class: "preview-title" }, info.title || info.video_id || ""),
      h("p", { class: "muted" }, facts.join(" · ")),
      info.is_playlist
        ? null
        : h("p", { class: "error" }, "This is a single video: subscribe to its channel or to a playlist."),
    ),
  );
}

function addForm(ctx, onCreated) {
  const url = field("url", "Channel or playlist URL", text({ type: "url", placeholder: "https://www.youtube.com/@channel" }),
    "A channel (@handle or /channel/…, optionally its /videos, /shorts or /streams tab) or a playlist (?list=…).");
  const name = field("name", "Name (optional)", text());
  const quality = field(
    "quality",
    "Quality",
    h("select", {}, QUALITIES.map((q) => h("option", { value: q }, { best: "Best available", worst: "Smallest" }[q] || q))),
  );
  const audioOnly = checkbox("audio_only", "Audio only (for a podcast)");
  const languages = field("subtitle_languages", "Transcript languages", text({ value: "en" }),
    'Language codes separated by commas (such as "en, de"), or "all".');
  const after = field("uploaded_after", "Uploaded after", text({ placeholder: "2025-01-01 or 30 days" }),
    'A date, or a time back from each check such as "30 days".');
  const shorts = checkbox("include_shorts", "Include shorts");
  const live = checkbox("include_live", "Include live streams");
  const include = field("title_include", "Title matches", text({ placeholder: "interview|podcast" }), "A regular expression.");
  const exclude = field("title_exclude", "Title does not match", text({ placeholder: "trailer" }), "A regular expression.");
  const minDuration = field("min_duration", "Shortest (seconds)", number({ min: "0" }));
  const maxDuration = field("max_duration", "Longest (seconds)", number({ min: "0" }));
  const perCheck = field("max_per_check", "At most per check", number({ min: "1" }));
  const interval = field("check_interval_minutes", "Check every (minutes)", number({ min: "1", value: String(DEFAULT_INTERVAL) }));
  const backfill = field("backfill", "Existing uploads to download", number({ min: "0", value: "0" }),
    "0: only what is uploaded from now on. N: also the N latest uploads.");
  const keepLast = field("keep_last", "Keep the files of the newest", number({ min: "1" }), "A number of videos; empty: they expire like any download's.");
  const priority = field(
    "priority",
    "Priority",
    h("select", {}, ["normal", "high", "low"].map((p) => h("option", { value: p }, { normal: "Normal", high: "High", low: "Low" }[p]))),
    "Its downloads wait in this queue: workers take high jobs first and low ones last.",
  );
  const all = [url, name, quality, audioOnly, languages, after, shorts, live, include, exclude, minDuration, maxDuration, perCheck, interval, backfill, keepLast, priority];
  const byName = Object.fromEntries(all.map((f) => [f.name, f]));

  const preview = h("div", { class: "preview", "aria-live": "polite" });
  const formError = h("div", { class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "button primary" }, "Subscribe");
  const form = h(
    "form",
    { class: "subs-form card", novalidate: true, "aria-labelledby": "subs-add-title" },
    h("h2", { id: "subs-add-title" }, "Add a subscription"),
    url.node,
    preview,
    name.node,
    h("fieldset", {}, h("legend", {}, "Downloads"),
      h("div", { class: "grid" }, quality.node, languages.node, priority.node), h("div", { class: "checks" }, audioOnly.node)),
    h("fieldset", {}, h("legend", {}, "Filters"),
      h("div", { class: "grid" }, after.node, include.node, exclude.node, minDuration.node, maxDuration.node, perCheck.node),
      h("div", { class: "checks" }, shorts.node, live.node)),
    h("fieldset", {}, h("legend", {}, "Schedule"),
      h("div", { class: "grid" }, interval.node, backfill.node, keepLast.node)),
    formError,
    h("div", { class: "actions" }, submit),
  );

  function body() {
    const options = {};
    if (quality.control.value !== "best") options.quality = quality.control.value;
    if (audioOnly.control.checked) options.audio_only = true;
    const codes = languages.control.value.split(/[\s,]+/).filter(Boolean);
    if (codes.join(",") !== DEFAULT_LANGUAGES.join(",")) options.subtitle_languages = codes.join(",") === "all" ? "all" : codes;
    const filters = {};
    if (after.control.value.trim()) filters.uploaded_after = after.control.value.trim();
    if (shorts.control.checked) filters.include_shorts = true;
    if (live.control.checked) filters.include_live = true;
    if (include.control.value) filters.title_include = include.control.value;
    if (exclude.control.value) filters.title_exclude = exclude.control.value;
    for (const f of [minDuration, maxDuration, perCheck]) {
      const value = numberValue(f.control);
      if (value !== null) filters[f.name] = value;
    }
    const sent = { url: url.control.value.trim() };
    if (name.control.value.trim()) sent.name = name.control.value.trim();
    if (Object.keys(options).length) sent.options = options;
    if (Object.keys(filters).length) sent.filters = filters;
    const every = numberValue(interval.control);
    if (every !== null && every !== DEFAULT_INTERVAL) sent.check_interval_minutes = every;
    const back = numberValue(backfill.control);
    if (back !== null && back !== 0) sent.backfill = back;
    const keep = numberValue(keepLast.control);
    if (keep !== null) sent.keep_last = keep;
    if (priority.control.value !== "normal") sent.priority = priority.control.value;
    return sent;
  }

  function clearErrors() {
    for (const f of all) {
      f.error.textContent = "";
      f.control.removeAttribute("aria-invalid");
    }
    replace(formError);
  }

  function mark(f, message) {
    f.error.textContent = [f.error.textContent, message].filter(Boolean).join(" ");
    f.control.setAttribute("aria-invalid", "true");
  }

  function showError(failure) {
    if (failure.code === "invalid_subscription_url" || failure.code === "unsupported_url" || failure.code === "forbidden_address") {
      mark(url, failure.message);
      url.control.focus();
      return;
    }
    const patterns = [include, exclude].filter((f) => f.control.value);
    if (failure.code === "invalid_pattern" && !(failure.details || []).length && patterns.length === 1) {
      mark(patterns[0], failure.message); // only one pattern was given: it is the one
      patterns[0].control.focus();
      return;
    }
    // A problem goes beside the field its `loc` names or, without one, the only field its
    // words name ("check_interval_minutes must be at least 15"); else it is the form's.
    const problems = (failure.details || []).length
      ? failure.details.map((d) => ({ message: d.msg, loc: Array.isArray(d.loc) ? d.loc : [] }))
      : [{ message: failure.message, loc: [] }];
    let first = null;
    const unplaced = [];
    for (const problem of problems) {
      let where = FIELDS.find((n) => problem.loc.includes(n));
      if (!where) {
        // Only names that read as field names (not "url" or "name", which are plain words).
        const named = FIELDS.filter((n) => (n.includes("_") || n === "backfill") && new RegExp(`\\b${n}\\b`).test(problem.message));
        where = named.length === 1 ? named[0] : null;
      }
      if (!where) {
        unplaced.push(problem.message);
        continue;
      }
      mark(byName[where], problem.message);
      first = first || byName[where].control;
    }
    if (unplaced.length) replace(formError, h("p", { class: "error" }, unplaced.join(" ")));
    (first || submit).focus();
  }

  let lookupTimer = null;
  let lookup = null;
  let lookedUp = "";
  function schedulePreview() {
    const value = url.control.value.trim();
    if (value === lookedUp) return;
    stopPreview();
    if (!/^https?:\/\/\S+$/i.test(value)) return;
    lookupTimer = setTimeout(() => showPreview(value), LOOKUP_DELAY_MS);
  }

  // A preview of another URL is never left showing, nor one arriving after the form is sent.
  function stopPreview() {
    clearTimeout(lookupTimer);
    if (lookup) lookup.abort();
    lookedUp = "";
    replace(preview);
  }

  async function showPreview(value) {
    lookedUp = value;
    lookup = new AbortController();
    const abort = () => lookup && lookup.abort();
    ctx.signal.addEventListener("abort", abort, { once: true });
    preview.setAttribute("aria-busy", "true");
    replace(preview, h("p", { class: "loading" }, "Looking it up…"));
    try {
      const info = await get("/api/v1/info", { query: { url: value }, signal: lookup.signal });
      replace(preview, previewView(info));
    } catch (failure) {
      if (failure.name === "AbortError") return;
      replace(preview, h("p", { class: "error" }, failure.message));
    } finally {
      preview.removeAttribute("aria-busy");
      ctx.signal.removeEventListener("abort", abort);
    }
  }

  url.control.addEventListener("input", schedulePreview);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    if (!url.control.value.trim()) {
      mark(url, "Enter a channel or playlist URL.");
      url.control.focus();
      return;
    }
    submit.disabled = true;
    try {
      const created = await post("/api/v1/subscriptions", body(), { signal: ctx.signal });
      form.reset();
      stopPreview();
      toast(`Subscribed to “${nameOf(created)}”.`, "ok");
      await onCreated(created);
    } catch (failure) {
      if (failure.name === "AbortError") return;
      showError(failure);
    } finally {
      submit.disabled = false;
    }
  });
  return {
    form,
    cleanup: stopPreview,
  };
}

/** One subscription's card: a state part drawn from the API's answer, and a notice part
 * (the check's job link, a feed URL shown once) that survives redrawing the state. */
function subscriptionCard(ctx, first, { onRemoved, announce }) {
  let sub = first;
  const headingId = `sub-${sub.id}-title`;
  const stateBox = h("div", { class: "sub-state" });
  const notice = h("div", { class: "sub-notice", "aria-live": "polite" });
  const actions = h("div", { class: "actions sub-actions" });
  const card = h("li", { class: "subscription card", dataset: { id: sub.id }, "aria-labelledby": headingId }, stateBox, actions, notice);

  function draw(next) {
    sub = next;
    const state = stateOf(sub);
    const feed = sub.feed || { enabled: false };
    const error = sub.last_error;
    replace(
      stateBox,
      h(
        "div",
        { class: "sub-head" },
        h("h3", { id: headingId }, nameOf(sub)),
        h("span", { class: `badge ${state.kind} sub-badge` }, state.label),
      ),
      h("p", { class: "muted sub-url" }, kindText(sub), " · ", h("a", { href: sub.url, rel: "noopener noreferrer", target: "_blank" }, sub.url)),
      h(
        "dl",
        { class: "facts sub-facts" },
        fact("Last check", when(sub.last_check_at)),
        fact("Next check", sub.paused ? "Paused" : when(sub.next_check_at)),
        fact("Every", plural(sub.check_interval_minutes, "minute", "minutes")),
        fact("Videos", h("span", { class: "sub-counts" }, countsText(sub.counts))),
        fact("Feed", feed.enabled ? `On (${feed.media})` : "Off"),
        optionsText(sub) ? fact("Downloads", optionsText(sub)) : [],
        filtersText(sub.filters) ? fact("Filters", filtersText(sub.filters)) : [],
        sub.last_check_job_id ? fact("Last check job", h("a", { href: `/jobs/${sub.last_check_job_id}` }, "View the job")) : [],
        error ? fact("Last error", h("span", { class: "error sub-error" }, error.message)) : [],
      ),
    );
    drawActions();
  }

  function button(label, handler, kind = "") {
    const b = h("button", { type: "button", class: `button small ${kind}`.trim(), "aria-label": `${label}: ${nameOf(sub)}` }, label);
    b.addEventListener("click", async () => {
      const index = [...actions.querySelectorAll("button")].indexOf(b);
      b.disabled = true;
      try {
        await handler(b);
      } catch (failure) {
        if (failure.name === "AbortError") return;
        replace(notice, h("p", { class: "error", role: "alert" }, failure.message));
      } finally {
        b.disabled = false;
        keepFocus(b, index);
      }
    });
    return b;
  }

  // A keyboard user stays where they were: on the button, or on the one that took its place
  // when the actions were redrawn (Pause becomes Resume), unless the action moved the focus.
  function keepFocus(b, index) {
    if (document.activeElement && document.activeElement !== document.body) return;
    const target = b.isConnected ? b : actions.querySelectorAll("button")[index];
    if (target) target.focus();
  }

  const path = () => `/api/v1/subscriptions/${encodeURIComponent(sub.id)}`;

  function drawActions() {
    const feed = sub.feed || { enabled: false };
    const media = h(
      "select",
      { class: "feed-media", "aria-label": `Feed media: ${nameOf(sub)}` },
      h("option", { value: "audio" }, "Audio feed"),
      h("option", { value: "video" }, "Video feed"),
    );
    media.value = feed.media || "audio";
    replace(
      actions,
      sub.paused
        ? button("Resume", async () => {
            draw(await patch(path(), { paused: false }, { signal: ctx.signal }));
            announce(`“${nameOf(sub)}” resumed.`);
          })
        : button("Pause", async () => {
            draw(await patch(path(), { paused: true }, { signal: ctx.signal }));
            announce(`“${nameOf(sub)}” paused.`);
          }),
      button("Check now", checkNow, "primary"),
      h("span", { class: "feed-controls" }, media, button(feed.enabled ? "New feed URL" : "Enable feed", () => enableFeed(media.value))),
      feed.enabled ? button("Revoke feed", revokeFeed, "danger") : null,
      button("Delete", askDelete, "danger"),
    );
  }

  async function refresh() {
    draw(await get(path(), { signal: ctx.signal }));
  }

  // The check's own job says when it ends (the subscription's `checking` may not be set
  // yet when the request returns): the card follows it, then reads the counts once more.
  let watched = null;
  async function checkNow() {
    const started = await post(`${path()}/check`, undefined, { signal: ctx.signal });
    const jobState = h("span", { class: "badge queued check-state" }, "queued");
    const link = h("a", { href: `/jobs/${started.job_id}` }, "View the check job");
    replace(
      notice,
      h("p", { class: "sub-check" }, started.started ? "Check started: " : "A check is already running: ", link, " ", jobState),
    );
    watched = { jobId: started.job_id, badge: jobState, done: false };
    await follow();
  }

  async function follow() {
    if (!watched || watched.done) return;
    const job = await get(`/api/v1/downloads/${encodeURIComponent(watched.jobId)}`, { signal: ctx.signal });
    watched.badge.className = `badge ${job.status} check-state`;
    watched.badge.textContent = job.status;
    watched.done = TERMINAL.has(job.status);
    await refresh();
  }

  async function enableFeed(media) {
    const created = await post(`${path()}/feed`, { media }, { signal: ctx.signal });
    const inputId = `sub-${sub.id}-feed-url`;
    const input = h("input", { type: "text", id: inputId, readonly: true, class: "feed-url", spellcheck: "false", autocomplete: "off" });
    input.value = created.url;
    const copied = h("span", { class: "help", role: "status" });
    const copy = h("button", { type: "button", class: "button small primary" }, "Copy");
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(input.value);
        copied.textContent = "Copied to the clipboard.";
      } catch {
        input.select();
        copied.textContent = "Copying was refused: the URL is selected, copy it with Ctrl+C.";
      }
    });
    const done = h("button", { type: "button", class: "button small subtle" }, "Done");
    done.addEventListener("click", () => {
      input.value = "";
      replace(notice);
      actions.querySelector("button")?.focus();
    });
    replace(
      notice,
      h(
        "div",
        { class: "feed-box" },
        h("label", { for: inputId }, `${created.media === "video" ? "Video" : "Audio"} feed URL`),
        h("p", { class: "warning help" }, h("strong", {}, "Copy it now: it is shown only this once. "),
          "Anyone with it can read the feed; an older feed URL of this subscription no longer works."),
        h("div", { class: "secret-row" }, input, copy),
        copied,
        h("div", { class: "actions" }, done),
      ),
    );
    input.focus();
    input.select();
    await refresh();
  }

  async function revokeFeed() {
    await del(`${path()}/feed`, { signal: ctx.signal });
    replace(notice, h("p", {}, "Feed revoked: its URL no longer works."));
    await refresh();
  }

  async function askDelete() {
    const yes = h("button", { type: "button", class: "button small danger" }, "Yes, delete");
    const no = h("button", { type: "button", class: "button small subtle" }, "Cancel");
    const error = h("p", { class: "field-error", role: "alert" });
    no.addEventListener("click", () => {
      replace(notice);
      drawActions();
      actions.querySelector("button")?.focus();
    });
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      try {
        await del(path(), { signal: ctx.signal });
        onRemoved(sub);
      } catch (failure) {
        if (failure.name === "AbortError") return;
        error.textContent = failure.message;
        yes.disabled = false;
      }
    });
    replace(
      notice,
      h(
        "div",
        { class: "confirm", role: "group", "aria-label": `Delete ${nameOf(sub)}?` },
        h("p", {}, `Delete the subscription “${nameOf(sub)}”? No more checks; what it downloaded stays in your jobs.`),
        h("div", { class: "actions" }, yes, no),
        error,
      ),
    );
    no.focus();
  }

  draw(sub);
  return {
    card,
    draw,
    get busy() {
      return Boolean(sub.checking) || Boolean(watched && !watched.done);
    },
    update: () => (watched && !watched.done ? follow() : refresh()),
  };
}

export async function render(root, ctx) {
  const status = h("p", { class: "visually-hidden", role: "status", "aria-live": "polite" });
  const list = h("ul", { class: "subscription-list", "aria-labelledby": "subs-list-title" });
  const summary = h("p", { class: "muted subs-summary" });
  const cards = new Map();
  const announce = (message) => {
    status.textContent = message;
  };

  function place(sub, { first = false } = {}) {
    const entry = subscriptionCard(ctx, sub, {
      announce,
      onRemoved: (gone) => {
        entry.card.remove();
        cards.delete(gone.id);
        toast(`Subscription “${nameOf(gone)}” deleted.`, "ok");
        document.getElementById("subs-list-title")?.focus(); // its card, with the focus, is gone
        announce(`Subscription “${nameOf(gone)}” deleted.`);
        showEmpty();
      },
    });
    cards.set(sub.id, entry);
    if (first) list.prepend(entry.card);
    else list.append(entry.card);
    showEmpty();
  }

  function showEmpty() {
    summary.textContent = cards.size ? "" : "No subscriptions yet: add a channel or a playlist below.";
  }

  async function load() {
    const page = await get("/api/v1/subscriptions", { query: { limit: PAGE_LIMIT, offset: 0 }, signal: ctx.signal });
    list.replaceChildren();
    cards.clear();
    for (const sub of page.items) place(sub);
    showEmpty();
    if (page.total > page.items.length) summary.textContent = `Showing the newest ${page.items.length} of ${page.total}.`;
  }

  const { form, cleanup } = addForm(ctx, async (created) => {
    place(created, { first: true });
    announce(`Subscribed to “${nameOf(created)}”.`);
  });
  root.append(
    h("h1", {}, "Subscriptions"),
    h("p", { class: "muted" }, "Follow a channel or a playlist: each check downloads only the videos it has not seen yet."),
    h("section", { class: "subs-list", "aria-labelledby": "subs-list-title" }, h("h2", { id: "subs-list-title", tabindex: "-1" }, "Your subscriptions"), summary, list),
    form,
    status,
  );
  try {
    await load();
  } catch (failure) {
    if (failure.name === "AbortError") throw failure;
    summary.textContent = "";
    summary.append(h("span", { class: "error", role: "alert" }, failure.message));
  }

  // While a check runs, its card is read again until it ends (counts and last check move).
  const timer = setInterval(() => {
    if (document.hidden) return;
    for (const entry of cards.values()) {
      if (entry.busy) entry.update().catch(() => {});
    }
  }, REFRESH_MS);
  return () => {
    clearInterval(timer);
    cleanup();
  };
}
