// The library: search the key's completed downloads by title, channel and transcript.
// The query lives in the URL (?q=&offset=), so reload and back keep it. A transcript hit
// opens the job page at the moment of the matching cue (/jobs/{id}?t=<seconds>).

import { get } from "../api.js";
import { h, highlighted, replace } from "../dom.js";
import { clock, when } from "../format.js";

const PAGE_SIZE = 20;

export async function render(root, ctx) {
  const q = (ctx.query.get("q") || "").trim();
  const offset = Math.max(0, Number.parseInt(ctx.query.get("offset") || "0", 10) || 0);
  const input = h("input", {
    type: "search",
    id: "library-q",
    name: "q",
    value: q,
    autocomplete: "off",
    maxlength: 200,
    "aria-describedby": "library-q-help library-q-error",
  });
  const fieldError = h("p", { class: "field-error", id: "library-q-error" });
  const results = h("section", { class: "library-results", "aria-labelledby": "library-results-h" });
  const form = h(
    "form",
    {
      role: "search",
      class: "card library-form",
      onsubmit: (event) => {
        event.preventDefault();
        const words = input.value.trim();
        ctx.navigate(words ? `/library?q=${encodeURIComponent(words)}` : "/library");
      },
    },
    h("label", { for: "library-q" }, "Search titles, channels and transcripts"),
    h(
      "div",
      { class: "library-row" },
      input,
      h("button", { type: "submit", class: "button primary" }, "Search"),
    ),
    h(
      "p",
      { class: "help", id: "library-q-help" },
      "Every word must appear; case is ignored. Words match whole: “bake” does not find “baking”.",
    ),
    fieldError,
  );
  replace(root, h("h1", {}, "Library"), form, results);
  if (!q) {
    replace(
      results,
      h("h2", { id: "library-results-h", class: "visually-hidden" }, "Results"),
      h(
        "p",
        { class: "muted" },
        "Search your completed downloads: a word from a title, a channel, or anything said in a video.",
      ),
    );
    input.focus();
    return;
  }
  ctx.setTitle(`${q} · Library`);
  replace(results, h("p", { class: "loading" }, "Searching…"));
  let page;
  try {
    page = await get("/api/v1/library", { query: { q, limit: PAGE_SIZE, offset }, signal: ctx.signal });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    const problems = error.forField ? error.forField("q") : [];
    input.setAttribute("aria-invalid", "true");
    replace(fieldError, problems.length ? problems.join(" ") : error.message);
    fieldError.setAttribute("role", "alert");
    replace(results);
    return;
  }
  const terms = q.split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  showResults(results, page, q, terms);
}

function showResults(box, page, q, terms) {
  const heading = h("h2", { id: "library-results-h" }, "Results");
  if (!page.total) {
    replace(box, heading, h("p", { class: "library-empty", role: "status" }, `No downloads match “${q}”.`));
    return;
  }
  const first = page.offset + 1;
  const last = page.offset + page.items.length;
  replace(
    box,
    heading,
    h(
      "p",
      { class: "muted", role: "status" },
      page.total === 1 ? "1 download matches." : `${first}–${last} of ${page.total} downloads match.`,
    ),
    h(
      "ol",
      { class: "hits", start: first },
      page.items.map((item) => hit(item, terms)),
    ),
    pager(page, q),
  );
}

function hit(item, terms) {
  const first = item.matches[0];
  const at = first ? jobLink(item.job_id, first) : `/jobs/${item.job_id}`;
  const title = item.title || item.video_id || item.url;
  return h(
    "li",
    { class: "hit card" },
    h("h3", { class: "hit-title" }, h("a", { href: at }, highlighted(title, terms))),
    h(
      "p",
      { class: "hit-meta muted" },
      item.channel ? highlighted(item.channel, terms) : null,
      item.channel && item.completed_at ? " · " : null,
      item.completed_at ? when(item.completed_at) : null,
    ),
    item.snippet ? h("p", { class: "hit-snippet" }, snippetNodes(item.snippet)) : null,
    item.matches.length
      ? h(
          "ul",
          { class: "hit-matches", "aria-label": `Moments in ${title}` },
          item.matches.map((match) =>
            h(
              "li",
              {},
              h(
                "a",
                { href: jobLink(item.job_id, match), class: "hit-moment" },
                h("span", { class: "cue-time" }, clock(match.start)),
                h("span", { class: "hit-text" }, highlighted(match.text.replace(/\s+/gu, " "), terms)),
              ),
            ),
          ),
        )
      : null,
  );
}

function jobLink(jobId, match) {
  const query = new URLSearchParams({ t: String(match.start) });
  if (match.language) query.set("lang", match.language);
  return `/jobs/${jobId}?${query}`;
}

function pager(page, q) {
  if (page.total <= page.limit) return null;
  const link = (offset, label, rel) =>
    h(
      "a",
      {
        href: `/library?q=${encodeURIComponent(q)}${offset ? `&offset=${offset}` : ""}`,
        class: "button small",
        rel,
      },
      label,
    );
  const previous = page.offset > 0 ? link(Math.max(0, page.offset - page.limit), "Previous", "prev") : null;
  const next =
    page.offset + page.items.length < page.total ? link(page.offset + page.limit, "Next", "next") : null;
  return h("nav", { class: "actions pager", "aria-label": "Result pages" }, previous, next);
}

/**
 * The API's snippet is HTML-escaped text with matched words in <mark>…</mark>. Rebuild it as
 * nodes (text and <mark>) without ever parsing it as HTML.
 */
export function snippetNodes(snippet) {
  return String(snippet)
    .split(/<mark>(.*?)<\/mark>/su)
    .map((part, i) => (i % 2 === 1 ? h("mark", {}, unescapeHtml(part)) : unescapeHtml(part)))
    .filter((part) => part !== "");
}

function unescapeHtml(text) {
  return text
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&quot;", '"')
    .replaceAll("&#x27;", "'")
    .replaceAll("&amp;", "&");
}
