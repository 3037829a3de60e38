"""The admin page: API keys (list, create with the secret shown once, revoke) and the
service's health; a key without the admin scope is told it needs one."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.browser import assert_accessible, save_screenshots
from tests.support.factories import create_key

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.support.fixtures.browser import NewPage
    from tests.support.stack import Stack, StartStack

pytestmark = pytest.mark.e2e

ALL_SCOPES = ["downloads:read", "downloads:write", "admin"]


def sign_in(page: Page, base_url: str, secret: str) -> None:
    response = page.request.post(f"{base_url}/api/v1/session", data={"api_key": secret})
    assert response.status == 200, response.text()


@pytest.fixture(scope="module")
def admin_secret(stack: Stack) -> str:
    return create_key(stack.database_url, "Admin Page", scopes=ALL_SCOPES).secret


def admin_page(stack: Stack, new_page: NewPage, secret: str) -> Page:
    page = new_page(stack.base_url)
    sign_in(page, stack.base_url, secret)
    page.goto("/admin")
    expect(page.get_by_role("heading", name="Admin", level=1)).to_be_visible()
    return page


def test_keys_are_listed_with_their_details(
    stack: Stack, new_page: NewPage, admin_secret: str
) -> None:
    listed = create_key(stack.database_url, "Listed <img src=x> key", scopes=["downloads:read"])
    used = httpx.get(f"{stack.base_url}/api/v1/stats", headers={"X-API-Key": listed.secret})
    assert used.status_code == 200
    page = admin_page(stack, new_page, admin_secret)

    row = page.locator("table.keys-table tbody tr", has_text="Listed <img src=x> key")
    expect(row).to_have_count(1)
    expect(row.get_by_role("rowheader")).to_have_text("Listed <img src=x> key")
    expect(row.locator("code")).to_have_text(listed.api_key.key_prefix)
    expect(row.locator(".scopes li")).to_have_text(["downloads:read"])
    expect(row.locator("td.figure")).to_have_text("1")
    expect(row).to_contain_text("Active")
    expect(row).to_contain_text("Never")  # expiry
    expect(page.locator("table.keys-table img")).to_have_count(0)
    own = page.locator("table.keys-table tbody tr", has_text="Admin Page")
    expect(own).to_contain_text("(you)")
    save_screenshots(page, "admin")
    assert_accessible(page, "admin")


def test_a_new_key_is_shown_once_and_works(
    stack: Stack, new_page: NewPage, admin_secret: str
) -> None:
    page = admin_page(stack, new_page, admin_secret)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_label("Name").fill("Made in the UI")
    page.get_by_label("downloads:write").uncheck()
    page.get_by_label("Jobs per day (optional)").fill("25")
    page.get_by_role("button", name="Create key").click()

    secret_box = page.get_by_label("The new API key")
    expect(secret_box).to_be_visible()
    expect(page.get_by_text("this is the only time it is shown")).to_be_visible()
    secret = secret_box.input_value()
    assert secret.startswith("yds_")
    me = httpx.get(f"{stack.base_url}/api/v1/session", headers={"X-API-Key": secret})
    assert me.status_code == 200 and me.json()["name"] == "Made in the UI"
    assert me.json()["scopes"] == ["downloads:read"]

    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_text("Copied to the clipboard.")).to_be_visible()
    assert page.evaluate("() => navigator.clipboard.readText()") == secret

    row = page.locator("table.keys-table tbody tr", has_text="Made in the UI")
    expect(row).to_contain_text("25/day")
    expect(page.get_by_label("Name")).to_have_value("")
    stored = page.evaluate(
        "() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"
    )
    assert secret not in stored and secret not in page.url
    save_screenshots(page, "admin-new-key")
    assert_accessible(page, "admin-new-key")

    # Leaving the page forgets it; coming back shows the list only.
    page.get_by_role("link", name="Stats").click()
    expect(page.get_by_role("heading", name="Stats", level=1)).to_be_visible()
    assert secret not in page.content()
    page.go_back()
    expect(page.get_by_role("heading", name="Admin", level=1)).to_be_visible()
    expect(page.locator("table.keys-table tbody tr", has_text="Made in the UI")).to_have_count(1)
    expect(page.get_by_label("The new API key")).to_have_count(0)
    assert secret not in page.content()


def test_done_hides_the_secret(stack: Stack, new_page: NewPage, admin_secret: str) -> None:
    page = admin_page(stack, new_page, admin_secret)
    page.get_by_label("Name").fill("Dismissed")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("The new API key").input_value()
    page.get_by_role("button", name="Done").click()
    expect(page.get_by_label("The new API key")).to_have_count(0)
    assert secret not in page.content()


def test_errors_are_shown_next_to_their_fields(
    stack: Stack, new_page: NewPage, admin_secret: str
) -> None:
    page = admin_page(stack, new_page, admin_secret)

    # The API's own validation message, under the field it is about.
    page.get_by_role("button", name="Create key").click()
    name_error = page.locator("#key-name-error")
    expect(name_error).not_to_be_empty()
    answer = httpx.post(
        f"{stack.base_url}/api/v1/admin/api-keys",
        json={"name": "", "scopes": ["downloads:read", "downloads:write"]},
        headers={"X-API-Key": admin_secret},
    )
    assert answer.status_code == 422
    expected = [d["msg"] for d in answer.json()["error"]["details"] if "name" in d["loc"]]
    expect(name_error).to_have_text(" ".join(expected))
    expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Name")).to_be_focused()

    page.get_by_label("Name").fill("Too late")
    page.get_by_label("Expires (optional)").fill("2001-01-01T10:00")
    page.get_by_role("button", name="Create key").click()
    past = httpx.post(
        f"{stack.base_url}/api/v1/admin/api-keys",
        json={"name": "x", "expires_at": "2001-01-01T10:00:00Z"},
        headers={"X-API-Key": admin_secret},
    )
    assert past.status_code == 422
    expect(page.locator("#key-expires_at-error")).to_have_text(past.json()["error"]["message"])
    expect(page.locator("#key-name-error")).to_be_empty()

    page.get_by_label("Expires (optional)").fill("")
    page.get_by_label("Requests per minute (optional)").fill("0")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#key-rate_limit_per_minute-error")).to_contain_text("greater than")

    page.get_by_label("Requests per minute (optional)").fill("")
    for scope in ALL_SCOPES:
        page.get_by_label(scope, exact=True).uncheck()
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#key-scopes-error")).to_have_text("Choose at least one scope.")
    listed = httpx.get(
        f"{stack.base_url}/api/v1/admin/api-keys", headers={"X-API-Key": admin_secret}
    ).json()
    assert "Too late" not in [key["name"] for key in listed]
    save_screenshots(page, "admin-errors")
    assert_accessible(page, "admin-errors")


def test_revoking_asks_first_and_the_key_stops_working(
    stack: Stack, new_page: NewPage, admin_secret: str
) -> None:
    doomed = create_key(stack.database_url, "Doomed key")
    page = admin_page(stack, new_page, admin_secret)
    row = page.locator("table.keys-table tbody tr", has_text="Doomed key")
    row.get_by_role("button", name="Revoke Doomed key").click()
    expect(row.get_by_text("Revoke “Doomed key”?")).to_be_visible()

    row.get_by_role("button", name="Cancel").click()
    expect(row.get_by_role("button", name="Revoke Doomed key")).to_be_focused()
    still = httpx.get(f"{stack.base_url}/api/v1/session", headers={"X-API-Key": doomed.secret})
    assert still.status_code == 200

    row.get_by_role("button", name="Revoke Doomed key").click()
    row.get_by_role("button", name="Yes, revoke").click()
    expect(row.locator(".badge", has_text="Revoked")).to_be_visible()
    expect(row.get_by_role("button")).to_have_count(0)
    gone = httpx.get(f"{stack.base_url}/api/v1/session", headers={"X-API-Key": doomed.secret})
    assert gone.status_code == 401 and gone.json()["error"]["code"] == "api_key_revoked"


def test_health_shows_each_dependency_and_refreshes(
    stack: Stack, new_page: NewPage, admin_secret: str
) -> None:
    report = httpx.get(f"{stack.base_url}/health/detailed").json()
    page = admin_page(stack, new_page, admin_secret)
    overall = page.locator("#health-status")
    expect(overall).to_have_text("OK" if report["status"] == "ok" else "Degraded")
    table = page.locator("table.health-table")
    for name, check in report["checks"].items():
        row = table.locator(f'tr[data-check="{name}"]')
        expect(row.get_by_role("rowheader")).to_have_text(name)
        expect(row.locator(".badge")).to_have_text("OK" if check["ok"] else "Failing")
        expect(row.locator("td.figure")).to_contain_text(" ms")
    expect(page.get_by_text(report["yt_dlp"]["api"], exact=True)).to_be_visible()

    refresh = page.get_by_role("region", name="Health").get_by_role("button", name="Refresh")
    with page.expect_response(lambda r: r.url.endswith("/health/detailed")) as asked:
        refresh.click()
    assert asked.value.status == 200
    expect(refresh).to_be_enabled()
    expect(page.locator(".health-overall")).to_contain_text("checked")
    expect(table.locator("tbody tr")).to_have_count(len(report["checks"]))


def test_health_shows_a_failing_dependency_in_the_services_words(
    start_stack: StartStack, new_page: NewPage
) -> None:
    bare = start_stack("admin-no-worker", workers=0, redis_db=10)
    answer = httpx.get(f"{bare.base_url}/health/detailed")
    assert answer.status_code == 503
    worker = answer.json()["checks"]["worker"]
    assert not worker["ok"] and worker["error"]

    secret = create_key(bare.database_url, "Bare Admin", scopes=["admin"]).secret
    page = admin_page(bare, new_page, secret)
    expect(page.locator("#health-status")).to_have_text("Degraded")
    row = page.locator('table.health-table tr[data-check="worker"]')
    expect(row.locator(".badge")).to_have_text("Failing")
    expect(row.locator("td.health-error")).to_have_text(worker["error"])
    expect(page.locator('table.health-table tr[data-check="database"] .badge')).to_have_text("OK")
    save_screenshots(page, "admin-degraded")


def test_the_doctor_runs_on_demand(stack: Stack, new_page: NewPage, admin_secret: str) -> None:
    page = admin_page(stack, new_page, admin_secret)
    page.get_by_role("button", name="Run the doctor").click()
    checks = page.locator(".doctor-checks li")
    expect(checks.first).to_be_visible(timeout=30_000)
    report = httpx.get(
        f"{stack.base_url}/api/v1/admin/doctor", headers={"X-API-Key": admin_secret}, timeout=30
    ).json()
    expect(checks).to_have_count(len(report["checks"]))
    for check in report["checks"]:
        expect(page.locator(f'.doctor-checks li[data-check="{check["name"]}"]')).to_contain_text(
            check["name"]
        )


def test_a_key_without_the_admin_scope_is_told_it_needs_one(
    stack: Stack, new_page: NewPage
) -> None:
    page = new_page(stack.base_url)
    sign_in(page, stack.base_url, create_key(stack.database_url, "Not an admin").secret)
    page.goto("/admin")
    expect(page.get_by_role("heading", name="Admin", level=1)).to_be_visible()
    expect(page.get_by_text("This page needs a key with the admin scope.")).to_be_visible()
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    expect(page.locator("table.keys-table")).to_have_count(0)
