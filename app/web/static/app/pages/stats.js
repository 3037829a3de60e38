// The signed-in key's figures (GET /api/v1/stats): its jobs by status, the files kept for
// them and what library search can find. Bars are <meter> elements (no inline styles: the
// CSP allows none). Below them, jobs over time (GET /api/v1/stats/timeseries): an inline
// SVG bar chart of completed and failed jobs per UTC day or hour, with the same figures as a
// table for screen readers and anyone who wants the numbers.

import { get } from "../api.js";
import { h, replace, svg } from "../dom.js";
import { bytes, clock, speed } from "../format.js";

// The order a user reads a job's life in; any status the API adds later goes at the end.
const STATUSES = ["queued", "processing", "paused", "completed", "failed", "canceled", "expired"];
const LABELS = {
  queued: "Queued",
  processing: "Processing",
  paused: "Paused",
  completed: "Completed",
  failed: "Failed",
  canceled: "Canceled",
  expired: "Expired (files removed)",
};

const count = new Intl.NumberFormat();

function statusRows(stats) {
  const byStatus = stats.jobs_by_status || {};
  const known = STATUSES.filter((s) => s in byStatus);
  const extra = Object.keys(byStatus).filter((s) => !STATUSES.includes(s));
  const total = Math.max(stats.total_jobs, 1);
  return [...known, ...extra].map((status) => {
    const n = byStatus[status] || 0;
    const label = LABELS[status] || status;
    return h(
      "tr",
      { dataset: { status } },
      h("th", { scope: "row" }, h("span", { class: `badge ${status}` }, label)),
      h("td", { class: "figure" }, count.format(n)),
      h(
        "td",
        { class: "bar-cell" },
        h(
          "meter",
          {
            class: `status-bar ${status}`,
            min: "0",
            max: String(total),
            value: String(n),
            "aria-label": `${label}: ${count.format(n)} of ${count.format(stats.total_jobs)} jobs`,
          },
          `${n} of ${stats.total_jobs}`,
        ),
      ),
    );
  });
}

function figure(term, value, note) {
  return h(
    "div",
    { class: "stat" },
    h("dt", {}, term),
    h("dd", {}, h("span", { class: "stat-value" }, value), note ? h("span", { class: "help" }, note) : null),
  );
}

function view(stats) {
  const jobs = h(
    "section",
    { class: "card", "aria-labelledby": "stats-jobs" },
    h("h2", { id: "stats-jobs" }, "Jobs"),
    h(
      "p",
      { class: "stats-total" },
      h("span", { class: "stat-value", id: "stats-total-jobs" }, count.format(stats.total_jobs)),
      stats.total_jobs === 1 ? " job in all" : " jobs in all",
      h("span", { class: "help" }, " (playlist entries count one each)"),
    ),
  );
  if (stats.total_jobs === 0) {
    jobs.append(
      h(
        "p",
        { class: "empty-state" },
        "This key has no downloads yet. ",
        h("a", { href: "/submit" }, "Download a video"),
        " and its figures show up here.",
      ),
    );
  } else {
    jobs.append(
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "stats-table" },
          h("caption", { class: "visually-hidden" }, "Jobs by status"),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", { scope: "col" }, "Status"),
              h("th", { scope: "col", class: "figure" }, "Jobs"),
              h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Share of all jobs")),
            ),
          ),
          h("tbody", {}, statusRows(stats)),
        ),
      ),
    );
  }
  const storage = h(
    "section",
    { class: "card", "aria-labelledby": "stats-storage" },
    h("h2", { id: "stats-storage" }, "Storage and library"),
    h(
      "dl",
      { class: "stats-figures" },
      figure("Storage used", bytes(stats.bytes_stored), `${count.format(stats.bytes_stored)} bytes`),
      figure("Files kept", count.format(stats.files_stored), "videos, audio, subtitles, thumbnails"),
      figure(
        "Searchable in the library",
        count.format(stats.library_entries),
        h("a", { href: "/library" }, "Search the library"),
      ),
    ),
  );
  return [jobs, storage];
}

// What each switch position asks for: the API's default 30 days by day, or two days by hour.
const RANGES = {
  day: { label: "By day, last 30 days", hours: null },
  hour: { label: "By hour, last 48 hours", hours: 47 },
};
// In the SVG's own units; it scales to the card's width (CSS), keeping its proportions.
const CHART = { width: 760, height: 150, top: 10, bottom: 22, left: 34, right: 6 };
const SERIES = [
  { key: "completed", label: "Completed" },
  { key: "failed", label: "Failed" },
];

function trendQuery(bucket) {
  const hours = RANGES[bucket].hours;
  if (hours === null) return { bucket };
  return { bucket, from: new Date(Date.now() - hours * 3600 * 1000).toISOString() };
}

/** A bucket's start as a person reads it, in UTC like the buckets themselves. */
function bucketLabel(iso, bucket, short = false) {
  const date = new Date(iso);
  const day = { month: "short", day: "numeric", timeZone: "UTC" };
  if (bucket === "day") return date.toLocaleDateString(undefined, day);
  const time = date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", timeZone: "UTC", hourCycle: "h23" });
  return short ? time : `${date.toLocaleDateString(undefined, day)} ${time}`;
}

function chartSummary(series) {
  const unit = series.bucket === "day" ? "day" : "hour";
  const first = bucketLabel(series.start, series.bucket);
  const last = bucketLabel(series.buckets[series.buckets.length - 1].start, series.bucket);
  const t = series.totals;
  return `Completed and failed jobs by ${unit} (UTC), ${first} to ${last}: ` + `${count.format(t.completed)} completed, ${count.format(t.failed)} failed.`;
}

function chart(series) {
  const { width, top, bottom, left, right } = CHART;
  const height = CHART.height - top - bottom;
  // Each bucket's slot holds its bars side by side, with a gap to the next bucket's.
  const group = (width - left - right) / series.buckets.length;
  const barWidth = (group * 0.8) / SERIES.length;
  const gap = 0;
  const peak = Math.max(1, ...series.buckets.flatMap((b) => SERIES.map((s) => b[s.key])));
  const y = (n) => top + height - (n / peak) * height;
  const base = top + height;
  const bars = series.buckets.map((b, i) =>
    SERIES.map((s, j) => {
      const n = b[s.key];
      const x = left + i * group + j * (barWidth + gap);
      const label = `${bucketLabel(b.start, series.bucket)}: ${count.format(n)} ${s.label.toLowerCase()}`;
      return svg(
        "rect",
        { class: `trend-bar ${s.key}`, x, y: y(n), width: barWidth, height: base - y(n), dataset: { start: b.start, series: s.key, count: n } },
        svg("title", {}, label),
      );
    }),
  );
  // A few dates along the bottom: the first, the middle and the last bucket.
  const last = series.buckets.length - 1;
  const ticks = [...new Set([0, Math.floor(last / 2), last])].map((i) =>
    svg(
      "text",
      { class: "trend-tick", x: left + i * group + (barWidth * SERIES.length) / 2, y: base + 16, "text-anchor": i === 0 ? "start" : i === last ? "end" : "middle" },
      bucketLabel(series.buckets[i].start, series.bucket, true),
    ),
  );
  return svg(
    "svg",
    {
      class: "trend-chart",
      role: "img",
      "aria-label": chartSummary(series),
      viewBox: `0 0 ${width} ${CHART.height}`,
    },
    svg("line", { class: "trend-axis", x1: left - 4, y1: base, x2: width, y2: base }),
    svg("text", { class: "trend-tick", x: 0, y: top + 8 }, count.format(peak)),
    svg("text", { class: "trend-tick", x: 0, y: base }, "0"),
    bars,
    ticks,
  );
}

function legend() {
  return h(
    "ul",
    { class: "trend-legend" },
    SERIES.map((s) => h("li", {}, h("span", { class: `trend-swatch ${s.key}`, "aria-hidden": "true" }), s.label)),
  );
}

function failedCodes(figures) {
  const codes = Object.entries(figures.failed_by_code || {});
  return codes.length ? codes.map(([code, n]) => `${code} ${count.format(n)}`).join(", ") : "";
}

function trendRow(figures, head, attrs = {}) {
  return h(
    "tr",
    attrs,
    h("th", { scope: "row" }, head),
    h("td", { class: "figure created" }, count.format(figures.created)),
    h("td", { class: "figure completed" }, count.format(figures.completed)),
    h("td", { class: "figure failed" }, count.format(figures.failed), figures.failed ? h("span", { class: "help block" }, failedCodes(figures)) : null),
    h("td", { class: "figure stored" }, bytes(figures.bytes_stored)),
    h("td", { class: "figure speed" }, figures.median_speed === null ? "–" : speed(figures.median_speed)),
    h("td", { class: "figure duration" }, figures.median_duration === null ? "–" : clock(figures.median_duration)),
  );
}

function trendTable(series) {
  const unit = series.bucket === "day" ? "Day (UTC)" : "Hour (UTC)";
  const columns = ["Created", "Completed", "Failed", "Stored", "Median speed", "Median time"];
  return h(
    "details",
    { class: "trend-details" },
    h("summary", {}, "Show the figures as a table"),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "trend-table" },
        h("caption", { class: "visually-hidden" }, `Jobs by ${series.bucket} (UTC)`),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, unit), columns.map((c) => h("th", { scope: "col", class: "figure" }, c)))),
        h(
          "tbody",
          {},
          series.buckets.map((b) => trendRow(b, bucketLabel(b.start, series.bucket), { dataset: { start: b.start } })),
        ),
        h("tfoot", {}, trendRow(series.totals, "Total", { class: "trend-total" })),
      ),
    ),
  );
}

function trendView(series) {
  return [
    h("figure", { class: "trend-figure" }, chart(series), h("figcaption", {}, legend())),
    trendTable(series),
  ];
}

function trendSection(ctx) {
  const body = h("div", { class: "trend-body" }, h("p", { class: "loading" }, "Loading…"));
  let bucket = "day";
  let pending = null;

  async function load() {
    pending?.abort();
    const mine = new AbortController();
    pending = mine;
    const signal = AbortSignal.any([ctx.signal, mine.signal]);
    try {
      const series = await get("/api/v1/stats/timeseries", { query: trendQuery(bucket), signal });
      section.hidden = false;
      replace(body, trendView(series));
      // The latest buckets are on the right: a narrow screen scrolls the chart there.
      const figure = body.querySelector(".trend-figure");
      figure.scrollLeft = figure.scrollWidth;
    } catch (error) {
      if (error.name === "AbortError") return;
      // A key without the read scope is told why once, by the figures above.
      section.hidden = error.status === 403;
      replace(body, h("p", { class: "error", role: "alert" }, error.message));
    }
  }

  const switches = Object.entries(RANGES).map(([value, range]) => {
    const input = h("input", { type: "radio", name: "trend-bucket", value, checked: value === bucket });
    input.addEventListener("change", () => {
      if (!input.checked) return;
      bucket = value;
      load();
    });
    return h("label", { class: "trend-choice" }, input, ` ${range.label}`);
  });
  const section = h(
    "section",
    { class: "card trends", "aria-labelledby": "stats-trends" },
    h("h2", { id: "stats-trends" }, "Jobs over time"),
    h("fieldset", { class: "trend-switch" }, h("legend", {}, "Show"), switches),
    body,
  );
  return { section, load };
}

export async function render(root, ctx) {
  const status = h("p", { class: "help", role: "status", "aria-live": "polite" });
  const body = h("div", { class: "stats-body" }, h("p", { class: "loading" }, "Loading…"));
  const refresh = h("button", { type: "button", class: "button small" }, "Refresh");

  async function load() {
    refresh.disabled = true;
    try {
      const stats = await get("/api/v1/stats", { signal: ctx.signal });
      replace(body, view(stats));
      status.textContent = `Updated ${new Date().toLocaleTimeString()}.`;
    } catch (error) {
      if (error.name === "AbortError") return;
      replace(body, h("p", { class: "error", role: "alert" }, error.message));
      status.textContent = "";
    } finally {
      refresh.disabled = false;
    }
  }

  const trends = trendSection(ctx);
  refresh.addEventListener("click", () => Promise.all([load(), trends.load()]));
  root.append(
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Stats"),
      h("p", { class: "muted" }, "What the key ", h("strong", {}, ctx.session.name), " has downloaded and keeps."),
      h("div", { class: "page-actions" }, refresh, status),
    ),
    body,
    trends.section,
  );
  await Promise.all([load(), trends.load()]);
  return undefined;
}
