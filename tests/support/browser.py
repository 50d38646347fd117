"""A real browser for the dashboard's tests: Debian's chromium driven by Playwright.

Playwright's own downloaded browsers are never used: ``launched_chromium`` starts
``/usr/bin/chromium`` (installed by ``scripts/ensure-chromium``) headless, without the
sandbox (tests run as root). Where it is missing the test is skipped, or fails when
``CI=true``: a CI run never counts a skipped browser test as passed.

The sync API runs its own event loop, so it is used from plain (sync) tests and
fixtures only: pytest-asyncio (``asyncio_mode = "auto"``) runs no loop around those.

``screenshot`` keeps a PNG of what a test saw under ``build/test-artifacts/dashboard``
(``build/`` is not committed); ``sign_in`` signs a page in through the sign-in form, as
a person would.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "build" / "test-artifacts" / "dashboard"
LAUNCH_ARGS = ["--no-sandbox"]
SESSION_COOKIE = "edgeplane_session"


def require_chromium() -> None:
    """Skip the test where Debian's chromium is missing; fail instead in CI."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return
    why = f"{CHROMIUM} is missing: run scripts/ensure-chromium (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"the dashboard's browser tests need chromium in CI: {why}")
    pytest.skip(why)


@contextlib.contextmanager
def launched_chromium(**options: Any) -> Iterator[Browser]:
    """Debian's chromium, headless, for the ``with`` block (closed after it)."""
    require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[*LAUNCH_ARGS, *options.pop("args", [])],
            **options,
        )
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """``page`` as ``build/test-artifacts/dashboard/<name>.png``; the file's path."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ValueError(f"screenshot name {name!r}: use letters, digits, '.', '_' and '-'")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / (name if name.endswith(".png") else f"{name}.png")
    page.screenshot(path=str(path), full_page=full_page)
    return path


def sign_in(page: Page, base_url: str, token: str, next_path: str = "/ui/") -> None:
    """Sign ``page`` in with ``token`` through the form; it lands on ``next_path``."""
    page.goto(f"{base_url}/ui/login?next={quote(next_path, safe='/')}")
    page.locator("#token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: url == f"{base_url}{next_path}")
    expect(page.locator("#login-error")).to_have_count(0)
