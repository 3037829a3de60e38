// The signed-in key's figures (GET /api/v1/stats): its jobs by status, the files kept for
// them and what library search can find. Bars are <meter> elements (no inline styles: the
// CSP allows none).

import { get } from "../api.js";
import { h, replace } from "../dom.js";
import { bytes } from "../format.js";

// The order a user reads a job's life in; any status the API adds later goes at the end.
const STATUSES = ["queued", "processing", "completed", "failed", "canceled", "expired"];
const LABELS = {
  queued: "Queued",
  processing: "Processing",
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

  refresh.addEventListener("click", load);
  root.append(
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Stats"),
      h("p", { class: "muted" }, "What the key ", h("strong", {}, ctx.session.name), " has downloaded and keeps."),
      h("div", { class: "page-actions" }, refresh, status),
    ),
    body,
  );
  await load();
  return undefined;
}
