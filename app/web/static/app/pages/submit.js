// Submit one URL (POST /api/v1/downloads) or several, one a line (POST /api/v1/batches),
// with the options of JobOptions and, for playlists and channels, CollectionOptions. Only
// what the user changed is sent: everything else keeps the API's defaults. The first URL
// is looked up (GET /api/v1/info) for a preview while typing. Errors are the API's words,
// next to their field when the API names one; the form keeps what was typed.

import { get, post } from "../api.js";
import { h, replace, toast } from "../dom.js";
import { clock } from "../format.js";

const LOOKUP_DELAY_MS = 500;
const QUALITIES = ["best", "worst", "2160p", "1440p", "1080p", "720p", "480p", "360p"];
const CONTAINERS = ["mp4", "webm", "mkv"];
const AUDIO_FORMATS = ["mp3", "m4a", "wav", "flac", "opus"];
const SUBTITLE_FORMATS = ["srt", "vtt", "txt", "json", "md"];
const DEFAULT_SUBTITLE_FORMATS = ["srt", "vtt", "txt", "json"];
const DEFAULT_LANGUAGES = ["en"];
const PRIORITIES = ["normal", "high", "low"];
const PRIORITY_LABELS = { normal: "Normal", high: "High (before normal jobs)", low: "Low (after normal jobs)" };
// Which fields an error's `loc` may name, and the input showing it.
const FIELDS = [
  "url",
  "urls",
  "quality",
  "output_format",
  "audio_only",
  "audio_format",
  "transcript_only",
  "subtitle_languages",
  "subtitle_formats",
  "playlist",
  "playlist_items",
  "max_items",
  "date_after",
  "date_before",
  "priority",
];
// Errors about the URL itself, shown beside it.
const URL_ERRORS = new Set(["unsupported_url", "forbidden_address"]);

/** A playlist or channel URL, as far as its shape tells (the API decides). */
export function looksLikeCollection(text) {
  try {
    const url = new URL(text);
    if (url.pathname.replace(/\/$/, "") === "/playlist" && url.searchParams.get("list")) return true;
    return /^\/(@[^/]+|channel\/[^/]+|c\/[^/]+|user\/[^/]+)(\/(videos|shorts|streams|featured))?\/?$/.test(url.pathname);
  } catch {
    return false;
  }
}

function hasListParameter(text) {
  try {
    const url = new URL(text);
    return Boolean(url.searchParams.get("list") && (url.searchParams.get("v") || url.hostname === "youtu.be"));
  } catch {
    return false;
  }
}

function lines(text) {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);
}

function field(name, label, control, help) {
  control.id = control.id || name;
  const error = h("p", { class: "field-error", id: `${name}-error` });
  const described = [help ? `${name}-help` : null, `${name}-error`].filter(Boolean).join(" ");
  control.setAttribute("aria-describedby", described);
  return {
    error,
    node: h(
      "div",
      { class: "field", dataset: { field: name } },
      h("label", { for: control.id }, label),
      control,
      help ? h("p", { class: "help", id: `${name}-help` }, help) : null,
      error,
    ),
  };
}

function select(name, values, labels = {}) {
  return h(
    "select",
    { id: name, name },
    values.map((value) => h("option", { value }, labels[value] || value)),
  );
}

function checkbox(name, label) {
  const input = h("input", { type: "checkbox", id: name, name });
  const error = h("p", { class: "field-error", id: `${name}-error` });
  input.setAttribute("aria-describedby", `${name}-error`);
  return { input, error, node: h("div", { class: "check" }, h("label", { class: "inline", for: name }, input, label), error) };
}

function bookmarklet() {
  // Built from this page's own origin only; h() refuses javascript: hrefs, so it is set here.
  const target = JSON.stringify(`${location.origin}/submit?url=`);
  const code = `javascript:(function(){window.open(${target}+encodeURIComponent(location.href),"_blank","noopener")})()`;
  const link = h("a", { class: "button small bookmarklet" }, "Download with yds");
  link.setAttribute("href", code);
  link.addEventListener("click", (event) => {
    event.preventDefault();
    toast("Drag this link to your bookmarks bar, then use it on a YouTube page.");
  });
  return h(
    "p",
    { class: "help bookmarklet-help" },
    "Bookmarklet: drag ",
    link,
    " to your bookmarks bar; on a YouTube page it opens this form with the page's address.",
  );
}

function previewView(info) {
  const thumbs = (info.thumbnails || []).filter((t) => t.url);
  const fitting = thumbs.filter((t) => !t.width || t.width <= 480);
  const thumb = (fitting.length ? fitting : thumbs).slice(-1)[0];
  const facts = [];
  if (info.is_playlist) {
    const count = info.entry_count ?? info.playlist_count;
    facts.push(count === undefined || count === null ? "Playlist" : `Playlist · ${count} ${count === 1 ? "entry" : "entries"}`);
  }
  if (info.channel_name) facts.push(info.channel_name);
  if (info.duration) facts.push(clock(info.duration));
  if (info.upload_date) facts.push(info.upload_date);
  if (info.is_live) facts.push("Live");
  const image = thumb ? h("img", { class: "thumb", src: thumb.url, alt: "", width: "160", height: "90" }) : null;
  if (image) image.addEventListener("error", () => image.remove());
  return h(
    "div",
    { class: "preview-card" },
    image,
    h("div", {}, h("p", { class: "preview-title" }, info.title || info.video_id), h("p", { class: "muted" }, facts.join(" · "))),
  );
}

export async function render(root, ctx) {
  const urls = h("textarea", {
    id: "urls",
    name: "urls",
    rows: "3",
    spellcheck: "false",
    autocomplete: "off",
    placeholder: "https://www.youtube.com/watch?v=…",
  });
  const urlField = field("urls", "YouTube URL (or several, one a line)", urls, "A video, a playlist or a channel. Several URLs are queued together as a batch.");
  const preview = h("div", { class: "preview", "aria-live": "polite" });
  const formError = h("div", { class: "form-error", role: "alert" });
  const batchResult = h("div", { class: "batch-result", "aria-live": "polite" });

  const quality = select("quality", QUALITIES, { best: "Best available", worst: "Smallest" });
  const container = select("output_format", CONTAINERS);
  const priority = select("priority", PRIORITIES, PRIORITY_LABELS);
  const audioOnly = checkbox("audio_only", "Audio only");
  const audioFormat = select("audio_format", ["", ...AUDIO_FORMATS], { "": "Default (m4a)" });
  const transcriptOnly = checkbox("transcript_only", "Transcript only (no media)");
  const languages = h("input", { type: "text", id: "subtitle_languages", name: "subtitle_languages", value: "en", autocomplete: "off", spellcheck: "false" });
  const formatBoxes = SUBTITLE_FORMATS.map((name) => {
    const input = h("input", { type: "checkbox", id: `subtitle-format-${name}`, name: "subtitle_formats", value: name });
    input.checked = DEFAULT_SUBTITLE_FORMATS.includes(name);
    return { name, input, node: h("label", { class: "inline", for: input.id }, input, name) };
  });
  const formatsError = h("p", { class: "field-error", id: "subtitle_formats-error" });
  const wholePlaylist = checkbox("playlist", "Download the whole playlist this video is in");
  const items = h("input", { type: "text", id: "playlist_items", name: "playlist_items", autocomplete: "off", spellcheck: "false", placeholder: "1-5,8" });
  const maxItems = h("input", { type: "number", id: "max_items", name: "max_items", min: "1", inputmode: "numeric" });
  const dateAfter = h("input", { type: "date", id: "date_after", name: "date_after" });
  const dateBefore = h("input", { type: "date", id: "date_before", name: "date_before" });

  const qualityField = field("quality", "Quality", quality);
  const containerField = field("output_format", "Container", container);
  const priorityField = field("priority", "Priority", priority, "Workers take high jobs first and low ones last.");
  const audioFormatField = field("audio_format", "Audio format", audioFormat);
  const languagesField = field("subtitle_languages", "Transcript languages", languages, 'Language codes separated by commas (such as "en, de"), or "all".');
  const itemsField = field("playlist_items", "Entries", items, 'By position: "1-5,8", "::2" (every other one), "-3:" (the last three).');
  const maxField = field("max_items", "At most this many entries", maxItems);
  const afterField = field("date_after", "Uploaded on or after", dateAfter);
  const beforeField = field("date_before", "Uploaded on or before", dateBefore);

  const errors = {
    url: urlField.error,
    urls: urlField.error,
    quality: qualityField.error,
    output_format: containerField.error,
    priority: priorityField.error,
    audio_only: audioOnly.error,
    audio_format: audioFormatField.error,
    transcript_only: transcriptOnly.error,
    subtitle_languages: languagesField.error,
    subtitle_formats: formatsError,
    playlist: wholePlaylist.error,
    playlist_items: itemsField.error,
    max_items: maxField.error,
    date_after: afterField.error,
    date_before: beforeField.error,
  };
  const controls = {
    url: urls,
    urls,
    quality,
    output_format: container,
    priority,
    audio_only: audioOnly.input,
    audio_format: audioFormat,
    transcript_only: transcriptOnly.input,
    subtitle_languages: languages,
    subtitle_formats: formatBoxes[0].input,
    playlist: wholePlaylist.input,
    playlist_items: items,
    max_items: maxItems,
    date_after: dateAfter,
    date_before: dateBefore,
  };

  const collection = h(
    "fieldset",
    { class: "collection", hidden: true },
    h("legend", {}, "Playlist or channel"),
    h("div", { class: "grid" }, itemsField.node, maxField.node, afterField.node, beforeField.node),
  );
  const listChoice = h("div", { class: "list-choice", hidden: true }, wholePlaylist.node);
  const submit = h("button", { type: "submit", class: "button primary" }, "Download");
  const form = h(
    "form",
    { class: "submit-form card", novalidate: true },
    urlField.node,
    preview,
    listChoice,
    h(
      "fieldset",
      { class: "options" },
      h("legend", {}, "Options"),
      h("div", { class: "grid" }, qualityField.node, containerField.node, audioFormatField.node, languagesField.node, priorityField.node),
      h("div", { class: "checks" }, audioOnly.node, transcriptOnly.node),
      h(
        "fieldset",
        { class: "formats", "aria-describedby": "subtitle_formats-error" },
        h("legend", {}, "Transcript files"),
        formatBoxes.map((box) => box.node),
        formatsError,
      ),
    ),
    collection,
    formError,
    h("div", { class: "actions" }, submit),
  );
  root.append(h("h1", {}, "Download"), form, batchResult, bookmarklet());

  function syncControls() {
    audioFormat.disabled = !audioOnly.input.checked;
    const all = lines(urls.value);
    const first = all[0] || "";
    listChoice.hidden = !(all.length === 1 && hasListParameter(first));
    const collectionShown =
      all.some(looksLikeCollection) || (!listChoice.hidden && wholePlaylist.input.checked) || preview.dataset.playlist === "true";
    collection.hidden = !collectionShown;
  }

  // -- preview ----------------------------------------------------------------------------
  let lookupTimer = null;
  let lookup = null;
  let lookedUp = "";
  function schedulePreview() {
    const first = lines(urls.value)[0] || "";
    if (first === lookedUp) return;
    clearTimeout(lookupTimer);
    if (lookup) lookup.abort();
    if (!/^https?:\/\/\S+$/i.test(first)) {
      lookedUp = "";
      preview.dataset.playlist = "false";
      replace(preview);
      syncControls();
      return;
    }
    lookupTimer = setTimeout(() => showPreview(first), LOOKUP_DELAY_MS);
  }

  async function showPreview(url) {
    lookedUp = url;
    lookup = new AbortController();
    const abort = () => lookup && lookup.abort();
    ctx.signal.addEventListener("abort", abort, { once: true });
    preview.setAttribute("aria-busy", "true");
    replace(preview, h("p", { class: "loading" }, "Looking it up…"));
    try {
      const info = await get("/api/v1/info", { query: { url }, signal: lookup.signal });
      preview.dataset.playlist = String(Boolean(info.is_playlist));
      replace(preview, previewView(info));
    } catch (failure) {
      if (failure.name === "AbortError") return;
      const collectionUrl = looksLikeCollection(url) && failure.code === "unsupported_url";
      preview.dataset.playlist = String(collectionUrl);
      replace(
        preview,
        collectionUrl
          ? h("p", { class: "muted" }, "A playlist or channel: its entries are listed in the queue once it is expanded.")
          : h("p", { class: "error" }, failure.message),
      );
    } finally {
      preview.removeAttribute("aria-busy");
      ctx.signal.removeEventListener("abort", abort);
      syncControls();
    }
  }

  // -- the request ------------------------------------------------------------------------
  function options() {
    const body = {};
    if (quality.value !== "best") body.quality = quality.value;
    if (container.value !== "mp4") body.output_format = container.value;
    if (priority.value !== "normal") body.priority = priority.value;
    if (audioOnly.input.checked) {
      body.audio_only = true;
      if (audioFormat.value) body.audio_format = audioFormat.value;
    }
    if (transcriptOnly.input.checked) body.transcript_only = true;
    const codes = languages.value
      .split(/[\s,]+/)
      .map((code) => code.trim())
      .filter(Boolean);
    if (codes.join(",") !== DEFAULT_LANGUAGES.join(",")) body.subtitle_languages = codes;
    const formats = formatBoxes.filter((box) => box.input.checked).map((box) => box.name);
    if (formats.join(",") !== DEFAULT_SUBTITLE_FORMATS.join(",")) body.subtitle_formats = formats;
    if (!listChoice.hidden && wholePlaylist.input.checked) body.playlist = true;
    if (!collection.hidden) {
      if (items.value.trim()) body.playlist_items = items.value.trim();
      if (maxItems.value.trim()) body.max_items = Number(maxItems.value);
      else if (maxItems.validity.badInput) body.max_items = "not a number";
      if (dateAfter.value) body.date_after = dateAfter.value;
      if (dateBefore.value) body.date_before = dateBefore.value;
    }
    return body;
  }

  function clearErrors() {
    for (const node of new Set(Object.values(errors))) node.textContent = "";
    for (const control of new Set(Object.values(controls))) control.removeAttribute("aria-invalid");
    replace(formError);
    replace(batchResult);
  }

  function showError(failure) {
    if (URL_ERRORS.has(failure.code)) {
      errors.urls.textContent = failure.message;
      urls.setAttribute("aria-invalid", "true");
      urls.focus();
      return;
    }
    const placed = new Set();
    let first = null;
    for (const name of FIELDS) {
      const messages = failure.forField ? failure.forField(name) : [];
      if (!messages.length) continue;
      const box = errors[name];
      box.textContent = [box.textContent, ...messages].filter(Boolean).join(" ");
      controls[name].setAttribute("aria-invalid", "true");
      first = first || controls[name];
      for (const detail of failure.details || []) {
        if (Array.isArray(detail.loc) && detail.loc.includes(name)) placed.add(detail);
      }
    }
    const unplaced = (failure.details || []).filter((detail) => !placed.has(detail));
    if (!first || unplaced.length) {
      const text = unplaced.length ? unplaced.map((detail) => detail.msg).join(" ") : failure.message;
      replace(formError, h("p", { class: "error" }, text));
    }
    (first || submit).focus();
  }

  function showRejections(outcome) {
    const accepted = outcome.accepted || [];
    const rejected = outcome.rejected || [];
    const rejectedUrls = rejected.map((item) => item.url);
    urls.value = rejectedUrls.join("\n"); // keep what was not queued, to fix and send again
    replace(
      batchResult,
      h(
        "div",
        { class: "card" },
        h("h2", {}, accepted.length ? `${accepted.length} queued, ${rejected.length} refused` : "None of the URLs was accepted"),
        h(
          "ul",
          { class: "rejections" },
          rejected.map((item) =>
            h("li", {}, h("code", {}, item.url), h("span", { class: "error" }, ` ${item.error.message}`)),
          ),
        ),
        accepted.length ? h("p", {}, h("a", { href: "/" }, "See the queue")) : null,
      ),
    );
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    const all = lines(urls.value);
    if (!all.length) {
      errors.urls.textContent = "Enter a URL.";
      urls.setAttribute("aria-invalid", "true");
      urls.focus();
      return;
    }
    submit.disabled = true;
    try {
      if (all.length === 1) {
        await post("/api/v1/downloads", { url: all[0], ...options() }, { signal: ctx.signal });
        toast("Queued.", "ok");
        ctx.navigate("/");
        return;
      }
      const outcome = await post("/api/v1/batches", { urls: all, ...options() }, { signal: ctx.signal });
      if (outcome.rejected && outcome.rejected.length) {
        showRejections(outcome);
        return;
      }
      toast(`${outcome.accepted.length} queued.`, "ok");
      ctx.navigate("/");
    } catch (failure) {
      if (failure.name === "AbortError") return;
      if (failure.code === "no_valid_urls" && failure.body) showRejections(failure.body);
      else showError(failure);
    } finally {
      submit.disabled = false;
    }
  });

  urls.addEventListener("input", () => {
    syncControls();
    schedulePreview();
  });
  audioOnly.input.addEventListener("change", syncControls);
  wholePlaylist.input.addEventListener("change", syncControls);

  const prefill = ctx.query.get("url") || ctx.query.get("text") || "";
  if (prefill) {
    urls.value = prefill;
    schedulePreview();
  }
  syncControls();
  urls.focus();
  return () => {
    clearTimeout(lookupTimer);
    if (lookup) lookup.abort();
  };
}
