"""The web UI's shell as a user meets it: signing in and out, the browser session and its
CSRF token, the Content-Security-Policy, themes, the keyboard, the manifest and phone width.

Real API and worker processes (the `stack` fixture) and Debian's Chromium through Playwright."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.browser import artifact_dir, assert_accessible, save_screenshots
from tests.support.factories import create_key

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.support.fixtures.browser import NewPage
    from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

ALL_SCOPES = ["downloads:read", "downloads:write", "admin"]
# Every page of the UI (a job id that exists nowhere: its page says so).
UI_PATHS = (
    "/",
    "/signin",
    "/submit",
    "/share",
    "/library",
    "/stats",
    "/admin",
    "/subscriptions",
    "/recovery",
    f"/jobs/{uuid.UUID(int=7)}",
)
NAV_LINKS = ["Queue", "Download", "Library", "Subscriptions", "Stats", "Recovery", "Admin"]
# Recorded before any of the page's scripts run, so no violation goes unseen.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def sign_in(page: Page, base_url: str, secret: str) -> None:
    """A session cookie in the page's context, as the sign-in form gets it."""
    response = page.request.post(f"{base_url}/api/v1/session", data={"api_key": secret})
    assert response.status == 200, response.text()


@pytest.fixture(scope="module")
def admin(stack: Stack) -> tuple[str, str]:
    """An admin key with every scope: (name, secret)."""
    issued = create_key(stack.database_url, "Shell Admin", scopes=ALL_SCOPES)
    return issued.api_key.name, issued.secret


def error_code(response: httpx.Response) -> str:
    body: dict[str, Any] = response.json()
    code: str = body["error"]["code"]
    return code


# ---------------------------------------------------------------------------------------
# Signing in and out


def test_a_wrong_key_shows_the_api_message_next_to_the_field(
    stack: Stack, new_page: NewPage
) -> None:
    page = new_page(stack.base_url)
    page.goto("/signin")
    expect(page.get_by_label("API key")).to_be_focused()
    save_screenshots(page, "signin")
    assert_accessible(page, "signin")
    page.get_by_label("API key").fill("yds_not-a-real-key-at-all")
    page.get_by_role("button", name="Sign in").click()

    expected = httpx.post(
        f"{stack.base_url}/api/v1/session", json={"api_key": "yds_not-a-real-key-at-all"}
    )
    assert expected.status_code == 401 and error_code(expected) == "invalid_api_key"
    message = expected.json()["error"]["message"]
    expect(page.locator("#api-key-error")).to_have_text(message)
    expect(page.get_by_label("API key")).to_have_attribute("aria-invalid", "true")
    expect(page).to_have_url(f"{stack.base_url}/signin")
    save_screenshots(page, "signin-error")
    assert_accessible(page, "signin-error")


def test_signing_in_lands_on_the_queue_and_signing_out_sticks(
    stack: Stack, new_page: NewPage
) -> None:
    issued = create_key(stack.database_url, "Shell Reader <b>one</b>")
    secret = issued.secret
    page = new_page(stack.base_url)
    page.goto("/signin")
    page.get_by_label("API key").fill(secret)
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{stack.base_url}/")
    expect(page.locator("#who-name")).to_have_text("Shell Reader <b>one</b>")
    expect(page.get_by_role("link", name="Queue")).to_have_attribute("aria-current", "page")
    # Not an admin: the admin link stays hidden.
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_count(6)

    assert secret not in page.url
    stored = page.evaluate(
        """() => JSON.stringify([
            Object.entries(localStorage), Object.entries(sessionStorage), document.cookie,
        ])"""
    )
    assert secret not in stored

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{stack.base_url}/signin")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#who")).to_be_hidden()
    assert page.request.get(f"{stack.base_url}/api/v1/session").status == 401

    for log in stack.log_dir.rglob("*"):
        if log.is_file():
            assert secret not in log.read_text(errors="replace"), f"the key is in {log.name}"


# ---------------------------------------------------------------------------------------
# The session cookie and its CSRF token, over plain HTTP


def test_the_session_cookie_is_httponly_strict_and_needs_the_csrf_token(
    stack: Stack, admin: tuple[str, str]
) -> None:
    _, secret = admin
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        signed_in = client.post("/api/v1/session", json={"api_key": secret})
        assert signed_in.status_code == 200, signed_in.text
        cookie = signed_in.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert secret not in signed_in.text
        csrf = signed_in.json()["csrf_token"]

        new_key = {"name": "made through the session", "scopes": ["downloads:read"]}
        refused = client.post("/api/v1/admin/api-keys", json=new_key)
        assert refused.status_code == 403 and error_code(refused) == "csrf_failed"
        wrong = client.post("/api/v1/admin/api-keys", json=new_key, headers={"X-CSRF-Token": "x"})
        assert wrong.status_code == 403 and error_code(wrong) == "csrf_failed"
        made = client.post("/api/v1/admin/api-keys", json=new_key, headers={"X-CSRF-Token": csrf})
        assert made.status_code == 201, made.text

        assert client.get("/api/v1/session").status_code == 200
        old_cookies = httpx.Cookies(client.cookies)
        assert client.delete("/api/v1/session").status_code == 204

    with httpx.Client(base_url=stack.base_url, cookies=old_cookies, timeout=30) as replay:
        after = replay.get("/api/v1/session")
        assert after.status_code == 401 and error_code(after) == "session_expired"


def test_a_revoked_keys_session_stops_working(stack: Stack, admin: tuple[str, str]) -> None:
    _, admin_secret = admin
    issued = create_key(stack.database_url, "Shell Soon Revoked")
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        assert client.post("/api/v1/session", json={"api_key": issued.secret}).status_code == 200
        assert client.get("/api/v1/stats").status_code == 200

        revoked = httpx.delete(
            f"{stack.base_url}/api/v1/admin/api-keys/{issued.api_key.id}",
            headers={"X-API-Key": admin_secret},
        )
        assert revoked.status_code == 204, revoked.text

        after = client.get("/api/v1/stats")
        assert after.status_code == 401 and error_code(after) == "api_key_revoked"


# ---------------------------------------------------------------------------------------
# Content-Security-Policy


def test_every_page_has_a_csp_without_unsafe_inline_and_no_violation(
    stack: Stack, new_page: NewPage, admin: tuple[str, str]
) -> None:
    for path in (*UI_PATHS, "/manifest.webmanifest", "/static/app/main.js"):
        response = httpx.get(f"{stack.base_url}{path}")
        assert response.status_code == 200, path
        policy = response.headers["content-security-policy"]
        directives = dict(
            (part.split()[0], part.split()[1:]) for part in policy.split(";") if part.strip()
        )
        assert "'self'" in directives["script-src"], (path, policy)
        assert "'unsafe-inline'" not in directives["script-src"], (path, policy)
        assert "'unsafe-inline'" not in directives.get("style-src", []), (path, policy)

    page = new_page(stack.base_url)
    page.add_init_script(CSP_LISTENER)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto("/signin")  # signed out: the sign-in form itself
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("() => window.__cspViolations") == []
    sign_in(page, stack.base_url, admin[1])
    for path in UI_PATHS:
        page.goto(path)
        expect(page.locator("#main h1")).to_be_visible()
        expect(page.locator("#main .loading")).to_have_count(0)
        violations = page.evaluate("() => window.__cspViolations")
        assert violations == [], (path, violations)
    csp_messages = [text for text in console if "Content Security Policy" in text]
    assert csp_messages == []
    assert page.blocked_requests == []  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------
# Themes, keyboard, manifest, phone width


def test_the_theme_follows_the_system(
    stack: Stack, new_page: NewPage, admin: tuple[str, str]
) -> None:
    page = new_page(stack.base_url)
    sign_in(page, stack.base_url, admin[1])
    backgrounds = {}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.goto("/stats")
        expect(page.get_by_role("heading", name="Stats", level=1)).to_be_visible()
        backgrounds[scheme] = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        page.screenshot(path=str(artifact_dir() / f"shell-{scheme}.png"), full_page=True)
    assert backgrounds["light"] != backgrounds["dark"], backgrounds


def test_tab_reaches_the_skip_link_then_the_nav_with_a_visible_outline(
    stack: Stack, new_page: NewPage, admin: tuple[str, str]
) -> None:
    page = new_page(stack.base_url)
    sign_in(page, stack.base_url, admin[1])
    page.goto("/stats")
    expect(page.get_by_role("heading", name="Stats", level=1)).to_be_visible()

    def tab() -> dict[str, str]:
        page.keyboard.press("Tab")
        focused: dict[str, str] = page.evaluate(
            """() => {
                const el = document.activeElement;
                return { text: el.textContent.trim(), tag: el.tagName,
                         outline: getComputedStyle(el).outlineStyle,
                         inNav: String(Boolean(el.closest("#nav"))) };
            }"""
        )
        assert focused["outline"] != "none", focused
        return focused

    first = tab()
    assert first == {**first, "text": "Skip to content", "tag": "A"}
    # The brand links home; the navigation follows it.
    reached: list[str] = []
    while len(reached) < len(NAV_LINKS):
        focused = tab()
        if focused["inNav"] == "true":
            reached.append(focused["text"])
        else:
            assert not reached, f"focus left the navigation early: {focused}"
    assert reached == NAV_LINKS

    page.goto("/stats")
    expect(page.get_by_role("heading", name="Stats", level=1)).to_be_visible()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()


def test_the_manifest_can_be_installed_and_takes_shares(stack: Stack) -> None:
    response = httpx.get(f"{stack.base_url}/manifest.webmanifest")
    assert response.status_code == 200
    manifest = json.loads(response.text)
    assert manifest["name"] and manifest["start_url"] == "/"
    assert manifest["icons"] and all(icon["src"].startswith("/") for icon in manifest["icons"])
    for icon in manifest["icons"]:
        assert httpx.get(f"{stack.base_url}{icon['src']}").status_code == 200, icon
    share = manifest["share_target"]
    assert share["action"] == "/share" and share.get("method", "GET") == "GET"
    assert set(share["params"].values()) == {"url", "text", "title"}


def test_no_page_scrolls_sideways_on_a_phone(
    stack: Stack, new_page: NewPage, admin: tuple[str, str]
) -> None:
    page = new_page(stack.base_url, viewport=(390, 844))
    sign_in(page, stack.base_url, admin[1])
    for path in UI_PATHS:
        page.goto(path)
        expect(page.locator("#main h1")).to_be_visible()
        expect(page.locator("#main .loading")).to_have_count(0)
        widths = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], (path, widths)
    save_screenshots(page, "shell-phone-last-page")
