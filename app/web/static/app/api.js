// The API as the pages use it. The browser session is an HttpOnly cookie set by
// POST /api/v1/session; the page never sees the key after signing in. Requests that change
// something repeat the session's CSRF token in X-CSRF-Token (kept in sessionStorage, which
// this origin's pages alone can read, and forgotten at sign-out).

const CSRF_KEY = "yds.csrf";
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** An error as the API words it: `code` is stable, `message` is for people. */
export class ApiError extends Error {
  constructor(status, code, message, details = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** The validation problems of one field (its last path element), in the API's words. */
  forField(name) {
    return (this.details || [])
      .filter((d) => Array.isArray(d.loc) && d.loc.includes(name))
      .map((d) => d.msg);
  }
}

let onSignedOut = () => {};

/** What to do when a request finds the session over (401): the app shows sign-in. */
export function whenSignedOut(handler) {
  onSignedOut = handler;
}

export async function request(method, path, { body, query, signal, raw = false } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value === null || value === undefined || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => url.searchParams.append(name, v));
    else url.searchParams.set(name, String(value));
  }
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (UNSAFE.has(method)) {
    const csrf = sessionStorage.getItem(CSRF_KEY);
    if (csrf) headers["X-CSRF-Token"] = csrf;
  }
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "network_error", "The service cannot be reached; retrying may help.");
  }
  if (!response.ok) {
    let code = "http_" + response.status;
    let message = response.statusText || "Request failed";
    let details = [];
    let data = null;
    try {
      data = await response.json();
      if (data && data.error) {
        code = data.error.code || code;
        message = data.error.message || message;
        details = data.error.details || [];
      }
    } catch {
      /* not JSON */
    }
    const error = new ApiError(response.status, code, message, details);
    error.body = data; // the whole answer, e.g. a batch's rejected URLs beside its error
    if (response.status === 401 && !path.endsWith("/session")) onSignedOut(error);
    throw error;
  }
  if (raw) return response;
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

export const get = (path, options) => request("GET", path, options);
export const post = (path, body, options = {}) => request("POST", path, { ...options, body });
export const put = (path, body, options = {}) => request("PUT", path, { ...options, body });
export const patch = (path, body, options = {}) => request("PATCH", path, { ...options, body });
export const del = (path, options) => request("DELETE", path, options);

/** Who is signed in (null when nobody), restoring the CSRF token after a reload. */
export async function currentSession() {
  try {
    const session = await get("/api/v1/session");
    if (session.csrf_token) sessionStorage.setItem(CSRF_KEY, session.csrf_token);
    return session;
  } catch (error) {
    if (error.status === 401) return null;
    throw error;
  }
}

export async function signIn(apiKey) {
  const session = await post("/api/v1/session", { api_key: apiKey });
  sessionStorage.setItem(CSRF_KEY, session.csrf_token);
  return session;
}

export async function signOut() {
  try {
    await del("/api/v1/session");
  } finally {
    sessionStorage.removeItem(CSRF_KEY);
  }
}

/** The address of a job's WebSocket (same origin; the cookie authenticates it). */
export function socketUrl(path) {
  const url = new URL(path, location.origin);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}
