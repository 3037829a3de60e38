// Admin: the API keys (list, create, revoke) and the service's health. main.js shows this page
// to admin-scope sessions only (the API checks the scope again on every request).
//
// A new key's secret is shown once, in this page's memory only: it is never put in storage,
// a URL or the log, and leaving the page (or "Done") forgets it.

import { ApiError, del, get, post } from "../api.js";
import { h, replace, toast } from "../dom.js";
import { when } from "../format.js";

const SCOPES = [
  { value: "downloads:read", label: "downloads:read", help: "see jobs, files, transcripts, library, stats" },
  { value: "downloads:write", label: "downloads:write", help: "submit, cancel and delete downloads" },
  { value: "admin", label: "admin", help: "manage keys, cookies, the doctor" },
];
const DEFAULT_SCOPES = ["downloads:read", "downloads:write"];
const LIMITS = [
  { name: "rate_limit_per_minute", label: "Requests per minute", max: 100000 },
  { name: "max_active_jobs", label: "Active jobs at once", max: 100000 },
  { name: "max_jobs_per_day", label: "Jobs per day", max: 1000000 },
];

const number = new Intl.NumberFormat();

function keyState(key) {
  if (key.revoked_at) return { label: "Revoked", badge: "bad" };
  if (key.expires_at && new Date(key.expires_at) <= new Date()) return { label: "Expired", badge: "expired" };
  return { label: "Active", badge: "ok" };
}

function limitsText(key) {
  const parts = [];
  if (key.rate_limit_per_minute) parts.push(`${number.format(key.rate_limit_per_minute)}/min`);
  if (key.max_active_jobs) parts.push(`${number.format(key.max_active_jobs)} active`);
  if (key.max_jobs_per_day) parts.push(`${number.format(key.max_jobs_per_day)}/day`);
  return parts.length ? parts.join(", ") : "Service defaults";
}

// ---------------------------------------------------------------------------------------
// API keys

function keysSection(ctx) {
  const status = h("p", { class: "help", role: "status", "aria-live": "polite" });
  const listBox = h("div", { class: "keys-list" }, h("p", { class: "loading" }, "Loading…"));
  const secretBox = h("div", { class: "secret-slot" });

  async function loadKeys() {
    try {
      const keys = await get("/api/v1/admin/api-keys", { signal: ctx.signal });
      replace(listBox, keysTable(keys));
    } catch (error) {
      if (error.name === "AbortError") return;
      replace(listBox, h("p", { class: "error", role: "alert" }, error.message));
    }
  }

  function revokeCell(key) {
    const cell = h("td", { class: "key-actions" });
    if (key.revoked_at) return cell;
    const own = ctx.session && key.key_prefix === ctx.session.key_prefix;
    const ask = h(
      "button",
      { type: "button", class: "button small danger", "aria-label": `Revoke ${key.name}` },
      "Revoke",
    );
    ask.addEventListener("click", () => {
      const error = h("p", { class: "field-error", role: "alert" });
      const yes = h("button", { type: "button", class: "button small danger" }, "Yes, revoke");
      const no = h("button", { type: "button", class: "button small subtle" }, "Cancel");
      const question = h(
        "div",
        { class: "confirm", role: "group", "aria-label": `Revoke ${key.name}?` },
        h(
          "p",
          {},
          `Revoke “${key.name}”? Its requests fail at once; this cannot be undone.`,
          own ? " This is the key you are signed in with: you will be signed out." : "",
        ),
        h("div", { class: "actions" }, yes, no),
        error,
      );
      no.addEventListener("click", () => {
        replace(cell, ask);
        ask.focus();
      });
      yes.addEventListener("click", async () => {
        yes.disabled = true;
        no.disabled = true;
        try {
          await del(`/api/v1/admin/api-keys/${encodeURIComponent(key.id)}`, { signal: ctx.signal });
          status.textContent = `Key “${key.name}” revoked.`;
          toast(`Key “${key.name}” revoked.`, "ok");
          await loadKeys();
        } catch (failure) {
          if (failure.name === "AbortError") return;
          error.textContent = failure.message;
          yes.disabled = false;
          no.disabled = false;
        }
      });
      replace(cell, question);
      no.focus();
    });
    return replace(cell, ask);
  }

  function keysTable(keys) {
    if (!keys.length) return h("p", { class: "empty-state" }, "No API keys yet.");
    const rows = keys.map((key) => {
      const state = keyState(key);
      const own = ctx.session && key.key_prefix === ctx.session.key_prefix;
      return h(
        "tr",
        { dataset: { keyId: key.id }, class: key.revoked_at ? "revoked" : null },
        h(
          "th",
          { scope: "row" },
          key.name,
          own ? h("span", { class: "help own-key" }, " (you)") : null,
        ),
        h("td", { dataset: { label: "Prefix" } }, h("code", {}, key.key_prefix)),
        h(
          "td",
          { dataset: { label: "Scopes" } },
          h("ul", { class: "scopes" }, key.scopes.map((s) => h("li", {}, h("span", { class: "badge" }, s)))),
        ),
        h("td", { dataset: { label: "Created" } }, when(key.created_at)),
        h("td", { dataset: { label: "Last used" } }, key.last_used_at ? when(key.last_used_at) : "Never"),
        h("td", { class: "figure", dataset: { label: "Requests" } }, number.format(key.usage_count)),
        h("td", { dataset: { label: "Limits" } }, limitsText(key)),
        h("td", { dataset: { label: "Expires" } }, key.expires_at ? when(key.expires_at) : "Never"),
        h(
          "td",
          { dataset: { label: "State" } },
          h("span", { class: `badge ${state.badge}` }, state.label),
          key.revoked_at ? h("span", { class: "help block" }, when(key.revoked_at)) : null,
        ),
        revokeCell(key),
      );
    });
    const heads = ["Name", "Prefix", "Scopes", "Created", "Last used", "Requests", "Limits", "Expires", "State"];
    return h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "keys-table" },
        h("caption", { class: "visually-hidden" }, "API keys"),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            heads.map((text) => h("th", { scope: "col" }, text)),
            h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")),
          ),
        ),
        h("tbody", {}, rows),
      ),
    );
  }

  function showSecret(created) {
    const input = h("input", {
      id: "new-key-secret",
      type: "text",
      readonly: true,
      spellcheck: "false",
      autocomplete: "off",
      class: "secret",
      "aria-describedby": "new-key-warning",
    });
    input.value = created.key;
    const copied = h("span", { class: "help", role: "status", "aria-live": "polite" });
    const copy = h("button", { type: "button", class: "button primary" }, "Copy");
    const done = h("button", { type: "button", class: "button subtle" }, "Done");
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(input.value);
        copied.textContent = "Copied to the clipboard.";
      } catch {
        input.select();
        copied.textContent = "Copying was refused: the key is selected, copy it with Ctrl+C.";
      }
    });
    done.addEventListener("click", () => {
      input.value = "";
      secretBox.replaceChildren();
      status.textContent = "The new key is no longer shown.";
    });
    replace(
      secretBox,
      h(
        "section",
        { class: "card secret-card", "aria-labelledby": "new-key-title" },
        h("h3", { id: "new-key-title" }, `Key “${created.name}” created`),
        h(
          "p",
          { class: "warning", id: "new-key-warning" },
          h("strong", {}, "Copy it now: this is the only time it is shown. "),
          "The service keeps only a fingerprint of it, and this page forgets it when you leave or press Done.",
        ),
        h("label", { for: "new-key-secret" }, "The new API key"),
        h("div", { class: "secret-row" }, input, copy),
        copied,
        h("div", { class: "actions" }, done),
      ),
    );
    input.focus();
    input.select();
  }

  const form = createForm(ctx, async (created) => {
    showSecret(created);
    status.textContent = `Key “${created.name}” created.`;
    await loadKeys();
  });

  const section = h(
    "section",
    { class: "card", "aria-labelledby": "admin-keys" },
    h("h2", { id: "admin-keys" }, "API keys"),
    status,
    listBox,
    secretBox,
    form,
  );
  return {
    section,
    load: loadKeys,
    forget: () => {
      for (const input of secretBox.querySelectorAll("input")) input.value = "";
      secretBox.replaceChildren();
    },
  };
}

function createForm(ctx, onCreated) {
  const errors = {};
  const fieldError = (name) => {
    errors[name] = h("p", { class: "field-error", id: `key-${name}-error`, role: "alert" });
    return errors[name];
  };
  const name = h("input", {
    id: "key-name",
    name: "name",
    type: "text",
    required: true,
    maxlength: "100",
    autocomplete: "off",
    "aria-describedby": "key-name-error",
  });
  const scopeBoxes = SCOPES.map((scope) =>
    h("input", {
      type: "checkbox",
      id: `key-scope-${scope.value.replace(":", "-")}`,
      name: "scopes",
      value: scope.value,
      checked: DEFAULT_SCOPES.includes(scope.value),
    }),
  );
  const expires = h("input", {
    id: "key-expires_at",
    name: "expires_at",
    type: "datetime-local",
    "aria-describedby": "key-expires_at-help key-expires_at-error",
  });
  const limitInputs = LIMITS.map((limit) =>
    h("input", {
      id: `key-${limit.name}`,
      name: limit.name,
      type: "number",
      min: "1",
      max: String(limit.max),
      step: "1",
      inputmode: "numeric",
      "aria-describedby": `key-${limit.name}-error`,
    }),
  );
  const formError = h("p", { class: "error", role: "alert" });
  const submit = h("button", { type: "submit", class: "button primary" }, "Create key");

  const form = h(
    "form",
    { class: "key-form", novalidate: true, "aria-labelledby": "admin-new-key" },
    h("h3", { id: "admin-new-key" }, "New key"),
    h("label", { for: "key-name" }, "Name"),
    name,
    fieldError("name"),
    h(
      "fieldset",
      { "aria-describedby": "key-scopes-error" },
      h("legend", {}, "Scopes"),
      SCOPES.map((scope, i) =>
        h(
          "div",
          { class: "scope-choice" },
          h("label", { class: "inline", for: scopeBoxes[i].id }, scopeBoxes[i], h("code", {}, scope.label)),
          h("span", { class: "help" }, scope.help),
        ),
      ),
      fieldError("scopes"),
    ),
    h(
      "div",
      { class: "form-grid" },
      h(
        "div",
        {},
        h("label", { for: "key-expires_at" }, "Expires (optional)"),
        expires,
        h("p", { class: "help", id: "key-expires_at-help" }, "Your local time. Empty: never expires."),
        fieldError("expires_at"),
      ),
      LIMITS.map((limit, i) =>
        h(
          "div",
          {},
          h("label", { for: limitInputs[i].id }, `${limit.label} (optional)`),
          limitInputs[i],
          fieldError(limit.name),
        ),
      ),
    ),
    formError,
    h("div", { class: "actions" }, submit),
  );

  function clearErrors() {
    formError.textContent = "";
    for (const [field, node] of Object.entries(errors)) {
      node.textContent = "";
      const input = form.querySelector(`#key-${field}`);
      if (input) input.removeAttribute("aria-invalid");
    }
  }

  function showFieldError(field, message) {
    errors[field].textContent = message;
    const input = form.querySelector(`#key-${field}`) || (field === "scopes" ? scopeBoxes[0] : null);
    if (input) input.setAttribute("aria-invalid", "true");
    return input;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    const body = { name: name.value.trim() };
    body.scopes = scopeBoxes.filter((box) => box.checked).map((box) => box.value);
    let firstBad = null;
    if (!body.scopes.length) {
      // The API would fall back to its default scopes: say so instead of guessing.
      firstBad = showFieldError("scopes", "Choose at least one scope.");
    }
    if (expires.value) {
      const at = new Date(expires.value);
      if (Number.isNaN(at.getTime())) firstBad = firstBad || showFieldError("expires_at", "Enter a date and time.");
      else body.expires_at = at.toISOString();
    }
    LIMITS.forEach((limit, i) => {
      const raw = limitInputs[i].value.trim();
      if (raw !== "") body[limit.name] = Number(raw);
      else if (limitInputs[i].validity.badInput) {
        firstBad = firstBad || showFieldError(limit.name, "Enter a whole number.");
      }
    });
    if (firstBad) {
      firstBad.focus();
      return;
    }
    submit.disabled = true;
    try {
      const created = await post("/api/v1/admin/api-keys", body, { signal: ctx.signal });
      form.reset();
      await onCreated(created);
    } catch (failure) {
      if (failure.name === "AbortError") return;
      let placed = null;
      if (failure instanceof ApiError) {
        if (failure.code === "expiry_in_past") placed = showFieldError("expires_at", failure.message);
        for (const field of Object.keys(errors)) {
          const messages = failure.forField(field);
          if (!messages.length) continue;
          const input = showFieldError(field, messages.join(" "));
          placed = placed || input;
        }
      }
      if (placed) placed.focus();
      else formError.textContent = failure.message;
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

// ---------------------------------------------------------------------------------------
// Health

function healthSection(ctx) {
  const overall = h("p", { class: "health-overall", role: "status", "aria-live": "polite" });
  const body = h("div", { class: "health-body" }, h("p", { class: "loading" }, "Loading…"));
  const refresh = h("button", { type: "button", class: "button small" }, "Refresh");

  async function loadHealth() {
    refresh.disabled = true;
    try {
      // Answers 503 with the same report when a dependency fails: read it either way.
      const response = await fetch("/health/detailed", {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        signal: ctx.signal,
      });
      let report = null;
      try {
        report = await response.json();
      } catch {
        report = null;
      }
      if (!report || !report.checks) throw new Error(`The health check answered ${response.status}.`);
      const ok = report.status === "ok";
      replace(
        overall,
        "Overall: ",
        h("span", { class: `badge ${ok ? "ok" : "bad"}`, id: "health-status" }, ok ? "OK" : "Degraded"),
        h("span", { class: "help" }, ` checked ${new Date().toLocaleTimeString()}`),
      );
      replace(body, healthView(report));
    } catch (error) {
      if (error.name === "AbortError") return;
      replace(overall, "Overall: ", h("span", { class: "badge bad", id: "health-status" }, "Unreachable"));
      replace(body, h("p", { class: "error", role: "alert" }, error.message || "The service cannot be reached."));
    } finally {
      refresh.disabled = false;
    }
  }
  refresh.addEventListener("click", loadHealth);

  const section = h(
    "section",
    { class: "card", "aria-labelledby": "admin-health" },
    h("div", { class: "section-head" }, h("h2", { id: "admin-health" }, "Health"), refresh),
    overall,
    body,
  );
  return { section, load: loadHealth };
}

function healthView(report) {
  // The error column only when some check has one (it is empty on a healthy service).
  const anyError = Object.values(report.checks).some((check) => check.error);
  const rows = Object.entries(report.checks).map(([name, check]) =>
    h(
      "tr",
      { dataset: { check: name } },
      h("th", { scope: "row" }, name),
      h("td", {}, h("span", { class: `badge ${check.ok ? "ok" : "bad"}` }, check.ok ? "OK" : "Failing")),
      h("td", { class: "figure" }, `${Number(check.latency_ms).toFixed(1)} ms`),
      anyError ? h("td", { class: "health-error" }, check.error || "") : null,
    ),
  );
  const parts = [
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "health-table" },
        h("caption", { class: "visually-hidden" }, "Dependencies"),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Dependency", "State", "Latency", anyError ? "Error" : null]
              .filter(Boolean)
              .map((text) => h("th", { scope: "col" }, text)),
          ),
        ),
        h("tbody", {}, rows),
      ),
    ),
  ];
  const breakers = Object.entries(report.circuit_breakers || {});
  const open = breakers.filter(([, b]) => b.open);
  parts.push(
    h("h3", {}, "YouTube circuit breakers"),
    open.length
      ? h(
          "ul",
          { class: "breakers" },
          open.map(([name, b]) =>
            h("li", {}, h("code", {}, name), ` is resting: retry in ${b.retry_in_seconds} s.`),
          ),
        )
      : h("p", { class: "muted" }, breakers.length ? "All closed." : "None open."),
  );
  const yt = report.yt_dlp;
  if (yt) {
    const workers = Object.entries(yt.workers || {});
    parts.push(
      h("h3", {}, "yt-dlp"),
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "API"),
        h("dd", {}, yt.api),
        h("dt", {}, "Workers"),
        h("dd", {}, workers.length ? workers.map(([w, v]) => `${w}: ${v}`).join(", ") : "None seen"),
        yt.update ? [h("dt", {}, "Updates"), h("dd", {}, updateText(yt.update))] : null,
      ),
    );
  }
  return parts;
}

function updateText(update) {
  const parts = [`mode ${update.mode}`, `active ${update.active_version}`];
  if (update.last_result) parts.push(`last: ${update.last_result.replaceAll("_", " ")}`);
  if (update.last_attempt_at) parts.push(when(update.last_attempt_at));
  return parts.join(" · ");
}

// ---------------------------------------------------------------------------------------
// The doctor (on demand: it probes YouTube and takes a few seconds)

function doctorSection(ctx) {
  const status = h("p", { class: "help", role: "status", "aria-live": "polite" });
  const body = h("div", { class: "doctor-body" });
  const run = h("button", { type: "button", class: "button small" }, "Run the doctor");
  run.addEventListener("click", async () => {
    run.disabled = true;
    status.textContent = "Checking…";
    try {
      const report = await get("/api/v1/admin/doctor", { signal: ctx.signal });
      status.textContent = `Overall: ${report.status}, checked ${when(report.checked_at)}.`;
      replace(body, doctorView(report));
    } catch (error) {
      if (error.name === "AbortError") return;
      status.textContent = "";
      replace(body, h("p", { class: "error", role: "alert" }, error.message));
    } finally {
      run.disabled = false;
    }
  });
  const section = h(
    "section",
    { class: "card", "aria-labelledby": "admin-doctor" },
    h("div", { class: "section-head" }, h("h2", { id: "admin-doctor" }, "YouTube doctor"), run),
    h("p", { class: "muted" }, "Every reason YouTube downloads could fail here, each with what to change."),
    status,
    body,
  );
  return { section };
}

const DOCTOR_BADGE = { ok: "ok", off: "expired", warn: "processing", fail: "bad" };

function doctorView(report) {
  const checks = h(
    "ul",
    { class: "doctor-checks" },
    report.checks.map((check) =>
      h(
        "li",
        { dataset: { check: check.name } },
        h("span", { class: `badge ${DOCTOR_BADGE[check.status] || ""}` }, check.status),
        " ",
        h("strong", {}, check.name),
        h("p", {}, check.detail),
        check.fix ? h("p", { class: "help" }, "Fix: ", check.fix) : null,
      ),
    ),
  );
  const failures = report.recent_failures || [];
  return [
    checks,
    h("h3", {}, `Recent failures (last ${report.recent_failures_window})`),
    failures.length
      ? h(
          "ul",
          {},
          failures.map((f) =>
            h(
              "li",
              {},
              h("code", {}, f.code),
              ` × ${f.count}, last ${when(f.last_at)}`,
              f.last_message ? h("span", { class: "help block" }, f.last_message) : null,
              f.hint ? h("span", { class: "help block" }, f.hint) : null,
            ),
          ),
        )
      : h("p", { class: "muted" }, "None."),
  ];
}

export async function render(root, ctx) {
  const keys = keysSection(ctx);
  const health = healthSection(ctx);
  const doctor = doctorSection(ctx);
  root.append(
    h("h1", {}, "Admin"),
    h("div", { class: "admin-grid" }, keys.section, h("div", { class: "admin-side" }, health.section, doctor.section)),
  );
  await Promise.all([keys.load(), health.load()]);
  // Leaving the page forgets a secret still on screen.
  return () => keys.forget();
}
