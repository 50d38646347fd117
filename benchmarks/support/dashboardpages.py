"""``dashboard.py``'s browser side: Debian's chromium driven by Playwright's sync API.

Never a downloaded browser: ``executable_path=/usr/bin/chromium`` (``scripts/ensure-
chromium`` installs it), headless, ``--no-sandbox``. Each measured load is in a fresh
browser context (its own empty cache and cookies), signed in first with
``POST /ui/login`` through the context's request API (the cookie lands in the context;
the 303 is not followed, so the measured navigation is the page alone).

What one load records, all in the page's own clock (ms since its navigation started):

* ``ttfb_ms``: the navigation's ``responseStart`` (the hub's time to answer the HTML);
* ``fcp_ms``: ``first-contentful-paint`` (Paint Timing);
* ``drawn_ms`` (the map): when ``#fleet-map`` first got ``data-loaded="true"``, by a
  MutationObserver installed before any page script runs (``performance.now()``);
* ``live_ms``: ``document.body.dataset.live``, set by ``static/live.js`` when the SSE
  stream opened;
* ``wall_ms``: the driver's own clock from ``goto`` until all of the above were seen;
* ``bytes``: the sum of ``transferSize`` of the navigation entry and of every resource
  timing entry once the page has been quiet for ``QUIET_S`` (headers + body as
  received; the map's points JSON fetches are resource entries, so they are in it; the
  open SSE stream is not, it has not ended); ``html_bytes`` the navigation's alone;
  ``points_bytes``, ``points_ms``, ``points_fetches``: the map's ``/ui/map/points``
  answers (the first one's duration, start and end; the last one's end: the map fits
  its view to the first answer, then fetches and draws the points of that view, and
  only that drawing sets ``data-loaded``);
* where the time went: ``dcl_ms``, ``load_ms`` (DOMContentLoaded's and load's end),
  ``long_tasks_ms`` and ``longest_task_ms`` (Long Tasks API: main-thread tasks over 50
  ms, until the page settled).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
QUIET_S = 1.0
"""The page is settled once no resource entry was added for this long."""
SETTLE_MAX_S = 10.0
POLL_MS = 20

DRAWN_PROBE = """
(() => {
  const mark = () => {
    const map = document.getElementById('fleet-map');
    if (map && map.dataset.loaded === 'true' && window.__epDrawn === undefined) {
      window.__epDrawn = performance.now();
    }
  };
  new MutationObserver(mark).observe(document, {
    subtree: true, attributes: true, attributeFilter: ['data-loaded'],
  });
  window.__epLong = [];
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__epLong.push([e.startTime, e.duration]);
    }).observe({ type: 'longtask', buffered: true });
  } catch (_) { /* no Long Tasks API: none counted */ }
})();
"""

FIGURES = """
() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const resources = performance.getEntriesByType('resource');
  const points = resources.filter((r) => r.name.includes('/ui/map/points'));
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  const live = document.body ? document.body.dataset.live : undefined;
  const map = document.getElementById('fleet-map');
  return {
    url: location.pathname + location.search,
    ttfb_ms: nav ? nav.responseStart : null,
    dcl_ms: nav && nav.domContentLoadedEventEnd ? nav.domContentLoadedEventEnd : null,
    load_ms: nav && nav.loadEventEnd ? nav.loadEventEnd : null,
    fcp_ms: fcp ? fcp.startTime : null,
    drawn_ms: window.__epDrawn === undefined ? null : window.__epDrawn,
    live_ms: live === undefined ? null : Number(live),
    bytes: (nav ? nav.transferSize : 0) + resources.reduce((n, r) => n + r.transferSize, 0),
    html_bytes: nav ? nav.transferSize : 0,
    resources: resources.length,
    points_fetches: points.length,
    points_bytes: points.reduce((n, r) => n + r.transferSize, 0),
    points_ms: points.length ? points[0].duration : null,
    points_start_ms: points.length ? points[0].startTime : null,
    points_end_ms: points.length ? points[0].responseEnd : null,
    points_last_end_ms: points.length ? points[points.length - 1].responseEnd : null,
    markers: map ? Number(map.dataset.markers || 0) : null,
    clusters: map ? Number(map.dataset.clusters || 0) : null,
    count_text: (document.getElementById('site-count') || {}).textContent || null,
    long_tasks_ms: (window.__epLong || []).reduce((n, t) => n + t[1], 0),
    longest_task_ms: (window.__epLong || []).reduce((n, t) => Math.max(n, t[1]), 0),
  };
}
"""


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def signed_in(browser: Browser, hub_url: str, token: str) -> Iterator[tuple[BrowserContext, float]]:
    """A fresh context signed in to the dashboard, and the sign-in's milliseconds."""
    context = browser.new_context(base_url=hub_url, viewport={"width": 1280, "height": 800})
    try:
        context.add_init_script(DRAWN_PROBE)
        started = time.perf_counter()
        answer = context.request.post("/ui/login", form={"token": token}, max_redirects=0)
        took = (time.perf_counter() - started) * 1000
        if answer.status != 303:
            raise RuntimeError(f"sign-in answered {answer.status}: {answer.text()[:300]}")
        yield context, took
    finally:
        context.close()


def settle(page: Page) -> None:
    """Until no resource entry was added for ``QUIET_S`` (at most ``SETTLE_MAX_S``)."""
    count, quiet_since = -1, time.monotonic()
    deadline = time.monotonic() + SETTLE_MAX_S
    while time.monotonic() < deadline:
        now = int(page.evaluate("performance.getEntriesByType('resource').length"))
        if now != count:
            count, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= QUIET_S:
            return
        page.wait_for_timeout(100)


def poll(page: Page, condition: str, deadline: float) -> bool:
    """Until ``condition`` holds in the page (False at ``deadline``). Not
    ``wait_for_function``: its polling evaluates a string, which the dashboard's CSP
    (no 'unsafe-eval') refuses; ``evaluate`` is the DevTools protocol's, not the page's.
    Each time is the page's own (its clock, read in it), so the polling step does not
    matter."""
    while True:
        if page.evaluate(condition):
            return True
        if time.monotonic() >= deadline:
            return False
        page.wait_for_timeout(POLL_MS)


def load(context: BrowserContext, path: str, is_map: bool, timeout_s: float) -> dict[str, Any]:
    """One page load's figures (see the module's doc); ``error`` says what did not come."""
    page = context.new_page()
    ms = timeout_s * 1000
    started = time.perf_counter()
    try:
        page.goto(path, wait_until="load", timeout=ms)
        if "/ui/login" in page.url:  # the dashboard gave up (its view not listed in time)
            return {**dict(page.evaluate(FIGURES)), "error": f"sent to {page.url}"}
        wanted = [
            ("first paint", "performance.getEntriesByName('first-contentful-paint').length > 0"),
            ("the live stream", "document.body && document.body.dataset.live !== undefined"),
        ]
        if is_map:
            wanted.append(("the map drawn", "window.__epDrawn !== undefined"))
        deadline = time.monotonic() + timeout_s
        for what, condition in wanted:
            if not poll(page, condition, deadline):
                return {**dict(page.evaluate(FIGURES)), "error": f"{what} did not come"}
        wall_ms = (time.perf_counter() - started) * 1000
        settle(page)
        return {**dict(page.evaluate(FIGURES)), "wall_ms": wall_ms}
    finally:
        page.close()
