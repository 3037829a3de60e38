"""What the browser tests keep and check of a page: screenshots at a phone's and a
desktop's size, and an accessibility audit by the vendored axe-core.

Both write into the artefact directory, UI_ARTIFACT_DIR (default `.artifacts/ui/` at the
checkout's root, ignored by git), so a failure can be looked at after the run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / "app" / "web" / "static" / "vendor" / "axe-core" / "axe.min.js"
PHONE = (390, 844)
DESKTOP = (1280, 800)
BLOCKING_IMPACTS = ("serious", "critical")
TARGETS_SHOWN = 3


def artifact_dir() -> Path:
    directory = Path(os.environ.get("UI_ARTIFACT_DIR") or ROOT / ".artifacts" / "ui")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def save_screenshots(page: Page, name: str) -> list[Path]:
    """`<name>-phone.png` and `<name>-desktop.png`, whole pages; the viewport is restored."""
    previous = page.viewport_size
    saved = []
    try:
        for label, (width, height) in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size({"width": width, "height": height})
            path = artifact_dir() / f"{name}-{label}.png"
            page.screenshot(path=str(path), full_page=True)
            saved.append(path)
    finally:
        if previous is not None:
            page.set_viewport_size(previous)
    return saved


def run_axe(page: Page, *, context: str = "document") -> dict[str, Any]:
    """axe-core's violations for `context` (a CSS selector, or the whole document).

    The script is evaluated by Playwright, not loaded by the page, so the page's own
    Content-Security-Policy does not stand in its way.
    """
    if not AXE_JS.is_file():
        raise AssertionError(f"{AXE_JS} is missing: run `make web-assets`")
    page.evaluate(AXE_JS.read_text())
    results: dict[str, Any] = page.evaluate(
        """async (selector) => {
            const context = selector === "document" ? document : selector;
            return await axe.run(context, { resultTypes: ["violations"] });
        }""",
        context,
    )
    return results


def describe(violation: dict[str, Any]) -> str:
    targets = [" ".join(map(str, node.get("target", []))) for node in violation.get("nodes", [])]
    shown = ", ".join(targets[:TARGETS_SHOWN])
    more = f" (+{len(targets) - TARGETS_SHOWN} more)" if len(targets) > TARGETS_SHOWN else ""
    return (
        f"[{violation.get('impact')}] {violation.get('id')}: {violation.get('help')} "
        f"at {shown}{more}"
    )


def assert_accessible(page: Page, name: str, *, context: str = "document") -> None:
    """Fail listing every serious or critical axe-core violation; `<name>-axe.json` keeps
    the full report."""
    results = run_axe(page, context=context)
    report = artifact_dir() / f"{name}-axe.json"
    report.write_text(json.dumps(results, indent=2))
    blocking = [v for v in results["violations"] if v.get("impact") in BLOCKING_IMPACTS]
    assert not blocking, f"{name}: accessibility violations (report: {report}):\n" + "\n".join(
        map(describe, blocking)
    )


def look_at(page: Page, name: str, *, dark_too: bool = False) -> None:
    """Screenshots (phone and desktop) and the accessibility audit of the page as it is; with
    `dark_too`, again in the dark theme as `<name>-dark` (the page stays dark after)."""
    save_screenshots(page, name)
    assert_accessible(page, name)
    if dark_too:
        page.emulate_media(color_scheme="dark")
        save_screenshots(page, f"{name}-dark")
        assert_accessible(page, f"{name}-dark")
