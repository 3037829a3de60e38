// Recovery: the key's failed and canceled downloads grouped by error code
// (GET /api/v1/downloads/failures), each group with its count, its newest job, a hint on what
// to do, and a button retrying the group (POST /api/v1/downloads/retry with its code);
// "Retry all" retries every group. Titles, URLs and messages come from videos and the API:
// they only ever become text nodes.

import { get, post } from "../api.js";
import { h, replace, toast } from "../dom.js";
import { when } from "../format.js";

const count = new Intl.NumberFormat();

function jobs(n) {
  return `${count.format(n)} ${n === 1 ? "job" : "jobs"}`;
}

/** One line about what a retry did, in the user's words. */
export function summary(outcome) {
  const parts = [`Retried ${jobs(outcome.retried)}`];
  if (outcome.not_retried) {
    const codes = [...new Set(outcome.skipped.map((s) => s.error.code))].join(", ");
    parts.push(`${count.format(outcome.not_retried)} could not be retried now (${codes})`);
  }
  if (outcome.more) parts.push("more remain: retry again for the rest");
  return parts.join("; ") + ".";
}

function sampleOf(group) {
  const sample = group.sample;
  return h(
    "div",
    { class: "failure-sample" },
    h("p", { class: "help block" }, `Newest, ${when(sample.at)}:`),
    h(
      "p",
      { class: "failure-title" },
      h("a", { href: `/jobs/${sample.job_id}` }, sample.title || sample.url),
    ),
    sample.message ? h("p", { class: "failure-message" }, sample.message) : null,
  );
}

function groupCard(group, retryGroup) {
  const headingId = `failure-${group.code}`;
  const button = h(
    "button",
    {
      type: "button",
      class: "button small",
      "aria-describedby": headingId,
      onclick: () => retryGroup(group, button),
    },
    "Retry these",
  );
  return h(
    "li",
    { class: "card failure-group", dataset: { code: group.code } },
    h(
      "div",
      { class: "section-head" },
      h("h2", { id: headingId }, h("code", {}, group.code), " ", h("span", { class: "badge failed" }, jobs(group.count))),
      button,
    ),
    group.hint ? h("p", { class: "failure-hint" }, group.hint) : h("p", { class: "help" }, "The job's message says what happened."),
    sampleOf(group),
  );
}

export async function render(root, ctx) {
  const status = h("p", { class: "help", role: "status", "aria-live": "polite" });
  const body = h("div", { class: "recovery-body" }, h("p", { class: "loading" }, "Loading…"));
  const refresh = h("button", { type: "button", class: "button small" }, "Refresh");
  const retryAll = h("button", { type: "button", class: "button small primary", hidden: true }, "Retry all");

  async function load() {
    refresh.disabled = true;
    try {
      const found = await get("/api/v1/downloads/failures", { signal: ctx.signal });
      show(found);
    } catch (error) {
      if (error.name === "AbortError") return;
      replace(body, h("p", { class: "error", role: "alert" }, error.message));
    } finally {
      refresh.disabled = false;
    }
  }

  function show(found) {
    retryAll.hidden = found.total === 0;
    if (found.total === 0) {
      replace(body, h("p", { class: "empty-state" }, "No failed or canceled downloads: nothing to recover."));
      return;
    }
    replace(
      body,
      h("p", { class: "recovery-total" }, `${jobs(found.total)} failed or canceled, by error code:`),
      h("ul", { class: "failure-groups" }, found.groups.map((group) => groupCard(group, retryGroup))),
    );
  }

  async function retry(filter, button) {
    button.disabled = true;
    retryAll.disabled = true;
    try {
      const outcome = await post("/api/v1/downloads/retry", filter, { signal: ctx.signal });
      status.textContent = summary(outcome);
      toast(summary(outcome), outcome.not_retried ? "error" : "ok");
      await load();
    } catch (error) {
      if (error.name === "AbortError") return;
      status.textContent = "";
      toast(error.message, "error");
      button.disabled = false;
    } finally {
      retryAll.disabled = false;
    }
  }

  function retryGroup(group, button) {
    return retry({ error_codes: [group.code] }, button);
  }

  refresh.addEventListener("click", load);
  retryAll.addEventListener("click", () => retry({}, retryAll));
  root.append(
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Recovery"),
      h(
        "p",
        { class: "muted" },
        "Downloads of ",
        h("strong", {}, ctx.session.name),
        " that failed or were canceled, by what went wrong. A retry runs them again as they were submitted.",
      ),
      h("div", { class: "page-actions" }, retryAll, refresh, status),
    ),
    body,
  );
  await load();
  return undefined;
}
