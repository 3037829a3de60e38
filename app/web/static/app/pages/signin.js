// Sign in with an API key, once: the key goes to POST /api/v1/session in the body and comes
// back as an HttpOnly cookie; it is never kept by the page, put in a URL or logged.

import { signIn } from "../api.js";
import { h } from "../dom.js";

function nextPath(query) {
  const next = query.get("next") || "/";
  // Only a path of this site (never "//host" or a scheme): no open redirect.
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

export async function render(root, ctx) {
  if (ctx.session) {
    ctx.navigate(nextPath(ctx.query), { replaceState: true });
    return undefined;
  }
  const error = h("p", { class: "field-error", id: "api-key-error", role: "alert" });
  const input = h("input", {
    id: "api-key",
    name: "api_key",
    type: "password",
    autocomplete: "current-password",
    required: true,
    spellcheck: "false",
    "aria-describedby": "api-key-help api-key-error",
  });
  const button = h("button", { type: "submit", class: "button primary" }, "Sign in");
  const form = h(
    "form",
    { class: "card narrow", novalidate: true },
    h("h1", {}, "Sign in"),
    h("label", { for: "api-key" }, "API key"),
    input,
    h(
      "p",
      { class: "help", id: "api-key-help" },
      "The key you made with ",
      h("code", {}, "make api-key"),
      " (or that an admin gave you). It is exchanged for a session that ends when you sign out or close the browser.",
    ),
    error,
    button,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    input.removeAttribute("aria-invalid");
    const key = input.value.trim();
    if (!key) {
      error.textContent = "Enter your API key.";
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    button.disabled = true;
    try {
      const session = await signIn(key);
      input.value = "";
      await ctx.signedIn(session);
      ctx.navigate(nextPath(ctx.query), { replaceState: true });
    } catch (failure) {
      error.textContent = failure.message;
      input.setAttribute("aria-invalid", "true");
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  root.append(form);
  input.focus();
  return undefined;
}
