// The UI's entry point: who is signed in, which page the URL names, the navigation.
// Pages are modules under pages/ exporting `render(root, ctx)`; a page may return a cleanup
// function, called when the user leaves it. `ctx.signal` is aborted at the same moment
// (pass it to fetches and listeners).

import { currentSession, signOut, whenSignedOut } from "./api.js";
import { replace, h, toast } from "./dom.js";

const ROUTES = [
  { pattern: /^\/$/, page: "queue", title: "Queue" },
  { pattern: /^\/signin$/, page: "signin", title: "Sign in", open: true },
  { pattern: /^\/submit$/, page: "submit", title: "Download" },
  { pattern: /^\/share$/, page: "share", title: "Download", open: true },
  { pattern: /^\/jobs\/(?<jobId>[0-9a-fA-F-]{36})$/, page: "job", title: "Job" },
  { pattern: /^\/library$/, page: "library", title: "Library" },
  { pattern: /^\/subscriptions$/, page: "subscriptions", title: "Subscriptions" },
  { pattern: /^\/stats$/, page: "stats", title: "Stats" },
  { pattern: /^\/recovery$/, page: "recovery", title: "Recovery" },
  { pattern: /^\/admin$/, page: "admin", title: "Admin", admin: true },
];

const app = {
  session: null,
  cleanup: null,
  controller: null,
};

export function isAdmin(session = app.session) {
  return Boolean(session && session.scopes.includes("admin"));
}

/** Go to a path of the UI without reloading the page. */
export function navigate(path, { replaceState = false } = {}) {
  if (replaceState) history.replaceState({}, "", path);
  else history.pushState({}, "", path);
  return show();
}

function match(pathname) {
  for (const route of ROUTES) {
    const found = route.pattern.exec(pathname);
    if (found) return { route, params: found.groups || {} };
  }
  return null;
}

function showChrome(session) {
  const signedIn = Boolean(session);
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("who").hidden = !signedIn;
  document.getElementById("who-name").textContent = signedIn ? session.name : "";
  for (const item of document.querySelectorAll("[data-admin-only]")) {
    item.hidden = !isAdmin(session);
  }
}

function markCurrent(page) {
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.nav === page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function show() {
  const root = document.getElementById("main");
  if (app.cleanup) {
    try {
      app.cleanup();
    } catch (error) {
      console.error(error);
    }
    app.cleanup = null;
  }
  if (app.controller) app.controller.abort();
  app.controller = new AbortController();
  const { signal } = app.controller;

  const found = match(location.pathname);
  if (!found) {
    document.title = "Not found · yds";
    replace(root, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "/" }, "Back to the queue")));
    return;
  }
  const { route, params } = found;
  if (!route.open && !app.session) {
    const back = location.pathname + location.search;
    history.replaceState({}, "", `/signin?next=${encodeURIComponent(back)}`);
    return show();
  }
  if (route.admin && !isAdmin()) {
    document.title = "Admin · yds";
    replace(root, h("h1", {}, "Admin"), h("p", {}, "This page needs a key with the admin scope."));
    return;
  }
  document.title = `${route.title} · yds`;
  markCurrent(route.page);
  replace(root, h("p", { class: "loading" }, "Loading…"));
  const ctx = {
    params,
    query: new URLSearchParams(location.search),
    session: app.session,
    signal,
    navigate,
    setTitle: (text) => {
      document.title = `${text} · yds`;
    },
    signedIn: async (session) => {
      app.session = session;
      showChrome(session);
    },
  };
  try {
    const module = await import(`./pages/${route.page}.js`);
    if (signal.aborted) return;
    root.replaceChildren();
    const cleanup = await module.render(root, ctx);
    if (typeof cleanup === "function") {
      if (signal.aborted) cleanup();
      else app.cleanup = cleanup;
    }
  } catch (error) {
    if (error.name === "AbortError" || signal.aborted) return;
    console.error(error);
    replace(
      root,
      h("h1", {}, "Something went wrong"),
      h("p", { class: "error", role: "alert" }, error.message || String(error)),
    );
  }
}

function interceptLinks(event) {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = event.target.closest("a[href]");
  if (!link || link.target || link.hasAttribute("download")) return;
  // In-page anchors (the skip link) are the browser's: it scrolls and moves the focus.
  if (link.getAttribute("href").startsWith("#")) return;
  const url = new URL(link.href);
  if (url.origin !== location.origin || !match(url.pathname)) return;
  event.preventDefault();
  navigate(url.pathname + url.search + url.hash);
}

async function start() {
  whenSignedOut(() => {
    if (!app.session) return;
    app.session = null;
    showChrome(null);
    toast("Your session has ended; please sign in again.", "error");
    const back = location.pathname + location.search;
    navigate(`/signin?next=${encodeURIComponent(back)}`, { replaceState: true });
  });
  document.addEventListener("click", interceptLinks);
  window.addEventListener("popstate", () => show());
  document.getElementById("sign-out").addEventListener("click", async () => {
    await signOut().catch(() => {});
    app.session = null;
    showChrome(null);
    navigate("/signin", { replaceState: true });
  });
  try {
    app.session = await currentSession();
  } catch (error) {
    app.session = null;
    toast(error.message, "error");
  }
  showChrome(app.session);
  await show();
}

start();
