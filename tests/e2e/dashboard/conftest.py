"""Fixtures for the dashboard's browser tests: one headless chromium per module
(``tests.support.browser``), and a fresh browser context (no cookies, a desktop-sized
viewport, the light colour scheme) per test.

Playwright's ``expect`` retries until its timeout: ``EXPECT_SECONDS`` here, more than
its 5 s default, for a machine running the whole suite at once. It is only when to
give up: no test measures how long anything took."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, ViewportSize, expect

from tests.support.browser import launched_chromium

VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
EXPECT_SECONDS = 20.0


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    expect.set_options(timeout=EXPECT_SECONDS * 1000)
    with launched_chromium() as browser:
        yield browser


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=VIEWPORT, color_scheme="light")
    try:
        yield context
    finally:
        context.close()
