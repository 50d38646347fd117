"""The dashboard in a real browser (Debian's chromium, headless), against a real hub and
real agents: signing in and out, the map with every site where it is, a site going
Offline turning red live without a reload, why an application is unplaced, a rollout
button that works (and the same request refused without a session or its CSRF token),
the keyboard, and dark mode.

One hub and four agents serve the whole module (far-apart sites with a location and a
region); the hub declares a silent site Offline within seconds (``HUB_ARGS``). Every
wait has a deadline and nothing is timed. Screenshots land in
``build/test-artifacts/dashboard``. The HTTP side alone is tests/integration/web.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Cookie, Page, expect

from tests.support.browser import SESSION_COOKIE, screenshot, sign_in
from tests.support.fleet import DEMO_SERVICE, Fleet, demo_app, tarball, wait_for
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(240)

HUB_ARGS = ("--offline-after-seconds", "3", "--heartbeat-seconds", "0.5")
SITES = {  # name: latitude, longitude, region; far apart, so never one cluster
    "dublin": (53.35, -6.26, "eu-west"),
    "boston": (42.36, -71.06, "us-east"),
    "tokyo": (35.68, 139.69, "ap-northeast"),
    "sydney": (-33.87, 151.21, "ap-southeast"),
}
ROLLING = {"dublin", "boston"}
"""Where the rollout's application runs (label ``rollout=yes``); dublin is its canary."""
CANARY = "dash-canary"
VICTIM = "sydney"
"""The site whose agent the offline test kills (nothing runs there)."""
V1, V2 = "1.0.0", "2.0.0"
ROLLOUT_APP, UNPLACED_APP = "shelf-web", "moon-base"
MERGE = {"Content-Type": "application/merge-patch+json"}
PATIENCE = 60_000
"""Milliseconds a browser-side wait gives up after (never a measure of anything)."""
OFFLINE_RED = "rgb(207, 34, 46)"  # app.css's --offline in the light scheme
DARK_BACKGROUND = "rgb(13, 17, 23)"  # app.css's --bg in the dark scheme


# ---- the fleet -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """A hub, a canary SiteGroup, four joined agents whose Sites have a location, and
    the demo service's artifacts in two versions."""
    fleet = Fleet(tmp_path_factory.mktemp("dashboard"), hub_args=HUB_ARGS)
    try:
        fleet.start_hub()
        canary = {"selector": {"matchLabels": {"ring": "canary"}}}
        fleet.ok("POST", "/sitegroups", _object("SiteGroup", CANARY, canary))
        for name, (_, _, region) in SITES.items():
            labels = {"region": region}
            labels |= {"rollout": "yes"} if name in ROLLING else {}
            labels |= {"ring": "canary"} if name == "dublin" else {}
            fleet.add_agent(name, labels)
        # A joining agent creates its Site (a Site that exists already refuses the join),
        # so the location is added afterwards, as applying examples/10-sites.yaml does.
        for name, (lat, lon, _) in SITES.items():
            wait_for(lambda n=name: fleet.site_phase(n) == "Online", f"{name} Online")
            location = {"spec": {"location": {"lat": lat, "lon": lon}}}
            fleet.ok("PATCH", f"/sites/{name}", location, headers=MERGE)
        for version in (V1, V2):
            code = tarball(DEMO_SERVICE, {"VERSION": f"{version}\n"})
            fleet.push_artifact("demo-service", version, code)
        yield fleet
    finally:
        fleet.close()


def _object(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "edgeplane.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }


@pytest.fixture
def page(context: BrowserContext, fleet: Fleet) -> Page:
    """A page signed in with the admin token, on the map."""
    page = context.new_page()
    sign_in(page, fleet.url, fleet.token)
    return page


def wait_live(page: Page) -> None:
    """Until the page's event stream is open (``static/live.js`` sets data-live)."""
    expect(page.locator("body")).to_have_attribute("data-live", re.compile(r"^\d+$"))


def session_cookies(context: BrowserContext) -> list[Cookie]:
    return [c for c in context.cookies() if c.get("name") == SESSION_COOKIE]


# ---- signing in and out --------------------------------------------------------------


def test_a_wrong_token_is_refused_and_the_right_one_signs_in(
    context: BrowserContext, fleet: Fleet
) -> None:
    page = context.new_page()
    page.goto(f"{fleet.url}/ui/")
    expect(page).to_have_url(f"{fleet.url}/ui/login?next=/ui/")
    expect(page.locator("#token")).to_be_focused()
    screenshot(page, "login")

    page.locator("#token").fill("ep_not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#login-error")).to_contain_text("the hub refused this token")
    assert session_cookies(context) == []
    screenshot(page, "login-refused")

    page.locator("#token").fill(fleet.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{fleet.url}/ui/")
    expect(page.locator("#fleet-map")).to_have_attribute("data-loaded", "true", timeout=PATIENCE)
    [cookie] = session_cookies(context)
    assert cookie.get("httpOnly") is True and cookie.get("path") == "/ui"
    assert cookie.get("sameSite") == "Strict"
    assert fleet.token not in cookie.get("value", "")
    screenshot(page, "map")


def test_sign_out_ends_the_session_on_the_server(page: Page, fleet: Fleet) -> None:
    [cookie] = session_cookies(page.context)
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{fleet.url}/ui/login")
    expect(page.locator("#token")).to_be_visible()
    assert session_cookies(page.context) == []
    page.goto(f"{fleet.url}/ui/")
    expect(page).to_have_url(f"{fleet.url}/ui/login?next=/ui/")

    # Over on the server too, not only forgotten by this browser.
    again = cookie.get("value", "")
    page.context.add_cookies(
        [{"name": SESSION_COOKIE, "value": again, "domain": "127.0.0.1", "path": "/ui"}]
    )
    page.goto(f"{fleet.url}/ui/sites")
    expect(page).to_have_url(f"{fleet.url}/ui/login?next=/ui/sites")


# ---- the map -------------------------------------------------------------------------


def test_the_map_shows_every_site_where_it_is(page: Page, fleet: Fleet) -> None:
    fleet_map = page.locator("#fleet-map")
    expect(fleet_map).to_have_attribute("data-loaded", "true", timeout=PATIENCE)
    expect(page.locator("main p.muted").first).to_contain_text("4 sites, 4 with a location")
    markers = fleet_map.locator(".site-marker")
    expect(markers).to_have_count(len(SITES))
    expect(fleet_map).to_have_attribute("data-markers", str(len(SITES)))
    expect(fleet_map).to_have_attribute("data-clusters", "0")
    names = markers.evaluate_all("icons => icons.map(icon => icon.dataset.site)")
    assert sorted(names) == sorted(SITES)

    for name in SITES:
        marker = fleet_map.locator(f'.site-marker[data-site="{name}"]')
        expect(marker).to_have_attribute("data-phase", re.compile(r"^[A-Z][a-z]+$"))
        expect(marker).to_have_attribute("aria-label", re.compile(rf"^site {name}, "))
    # Each drawn where its site is (once the map has settled on its first view).
    wait_until(
        lambda: not misplaced(page) or None,
        "every marker at its site's place",
        within=PATIENCE / 1000,
        every=0.1,
        seen=lambda: f"off by (x, y) px: {misplaced(page)}",
    )


def misplaced(page: Page) -> dict[str, list[float]]:
    """The markers whose icon's centre is more than 3 px from the map's point for their
    site's location, with how far off (x, y) each is."""
    where = {name: [lat, lon] for name, (lat, lon, _) in SITES.items()}
    offsets: dict[str, list[float]] = page.evaluate(
        """(where) => {
            const map = window.edgeplaneMap.map();
            const box = map.getContainer().getBoundingClientRect();
            const centre = map.getCenter().lng;
            const off = {};
            for (const [name, [lat, lon]] of Object.entries(where)) {
                const icon = document.querySelector(`.site-marker[data-site="${name}"]`);
                const near = lon + 360 * Math.round((centre - lon) / 360);
                const p = map.latLngToContainerPoint([lat, near]);
                const r = icon.getBoundingClientRect();
                const x = r.left + r.width / 2 - box.left;
                const y = r.top + r.height / 2 - box.top;
                off[name] = [x - p.x, y - p.y];
            }
            return off;
        }""",
        where,
    )
    return {n: xy for n, xy in offsets.items() if max(abs(xy[0]), abs(xy[1])) > 3}


def test_a_site_going_offline_turns_red_live_without_a_reload(
    context: BrowserContext, page: Page, fleet: Fleet
) -> None:
    table = context.new_page()
    table.goto(f"{fleet.url}/ui/sites")
    marker = page.locator(f'#fleet-map .site-marker[data-site="{VICTIM}"]')
    badge = table.locator(f'td[sse-swap="site-{VICTIM}"] span.phase')
    expect(marker).to_have_attribute("data-phase", "Online", timeout=PATIENCE)
    expect(badge).to_have_attribute("data-phase", "Online")
    for shown in (page, table):
        wait_live(shown)
        shown.evaluate("window.__marker = 1")  # a reload would lose it

    fleet.agents[VICTIM].kill9()

    expect(marker).to_have_attribute("data-phase", "Offline", timeout=PATIENCE)
    expect(marker).to_have_class(re.compile(r"(^|\s)phase-Offline(\s|$)"))
    expect(marker).to_have_css("background-color", OFFLINE_RED)
    expect(badge).to_have_attribute("data-phase", "Offline", timeout=PATIENCE)
    expect(badge).to_have_text("Offline")
    for shown in (page, table):
        offline = shown.locator('#summary a.phase[data-phase="Offline"]')
        expect(offline).to_have_attribute("data-count", "1", timeout=PATIENCE)
        assert shown.evaluate("window.__marker") == 1, "the page was reloaded"
    for name in SITES.keys() - {VICTIM}:
        other = page.locator(f'#fleet-map .site-marker[data-site="{name}"]')
        expect(other).to_have_attribute("data-phase", "Online")
    assert fleet.site_phase(VICTIM) == "Offline"
    screenshot(page, "map-offline")
    screenshot(table, "sites-offline")


# ---- applications --------------------------------------------------------------------


def test_an_unplaced_application_says_why_and_why_not_a_given_site(
    page: Page, fleet: Fleet
) -> None:
    nowhere = {"matchLabels": {"region": "moon"}}
    fleet.ok(
        "POST",
        "/applications",
        demo_app(UNPLACED_APP, V1, mode="Replicas", replicas=2, selector=nowhere),
    )
    wait_for(
        lambda: _status(fleet, UNPLACED_APP).get("unplaced") == 2,
        f"{UNPLACED_APP} decided: 2 unplaced",
    )

    page.goto(f"{fleet.url}/ui/applications/{UNPLACED_APP}")
    expect(page.locator("#unplaced")).to_have_text("2 unplaced")
    rows = page.locator("#explain table.histogram tbody tr")
    reason = rows.filter(has_text="did not match the selector")
    expect(reason).to_have_count(1)
    expect(reason.locator("meter")).to_have_count(1)

    page.get_by_label("Why not this site?").fill("tokyo")
    page.get_by_role("button", name="Explain").click()
    verdict = page.locator("#explain-site")
    expect(verdict).to_contain_text("not feasible")
    failed = verdict.locator("tbody tr").filter(has=page.locator("td.warn"))
    expect(failed.filter(has_text="did not match the selector")).to_have_count(1)
    expect(failed.first.locator("th")).to_have_text("selector")
    assert page.url == f"{fleet.url}/ui/applications/{UNPLACED_APP}", "htmx swapped in place"
    screenshot(page, "explain-unplaced")


def _status(fleet: Fleet, app: str) -> dict[str, Any]:
    return dict(fleet.ok("GET", f"/applications/{app}").get("status") or {})


def _rollout(fleet: Fleet) -> dict[str, Any]:
    return dict(_status(fleet, ROLLOUT_APP).get("rollout") or {})


def rollout_app(version: str) -> dict[str, Any]:
    """The demo service on the ``rollout=yes`` sites, rolled out canary first; each
    wave soaks for an hour unless promoted, so a rollout stays Progressing."""
    made = demo_app(
        ROLLOUT_APP, version, mode="EverySite", selector={"matchLabels": {"rollout": "yes"}}
    )
    made["spec"]["rollout"] = {
        "groups": [{"name": "canary", "siteGroup": CANARY}],
        "maxUnavailable": 1,
        "minSuccessSeconds": 3600,
    }
    return made


def test_the_pause_button_pauses_the_rollout_and_needs_a_session_and_its_csrf_token(
    page: Page, fleet: Fleet
) -> None:
    fleet.ok("POST", "/applications", rollout_app(V1))
    wait_for(lambda: fleet.running(ROLLOUT_APP, ROLLING), f"{ROLLOUT_APP} {V1} Ready")
    fleet.ok("PUT", f"/applications/{ROLLOUT_APP}", rollout_app(V2))
    wait_for(
        lambda: (r := _rollout(fleet)).get("revision") == 2 and r.get("phase") == "Progressing",
        "the rollout of revision 2 Progressing",
    )

    page.goto(f"{fleet.url}/ui/applications/{ROLLOUT_APP}")
    wait_live(page)
    panel = page.locator("#rollout")
    expect(panel.locator(".rollout-phase")).to_have_attribute("data-phase", "Progressing")
    # The panel is reloaded whenever the application changes, which the pause itself
    # soon does: note the answer's "done" whenever it is shown, however briefly.
    page.evaluate(
        """() => {
            const panel = document.getElementById('rollout');
            const look = () => {
                const ok = panel.querySelector('p.ok');
                if (ok && ok.textContent.trim() === 'pause: done.') window.__paused = true;
            };
            new MutationObserver(look).observe(panel, {childList: true, subtree: true});
        }"""
    )
    with page.expect_response(
        lambda r: (
            r.url.endswith(f"/ui/applications/{ROLLOUT_APP}/rollout") and r.request.method == "POST"
        )
    ) as answered:
        panel.get_by_role("button", name="Pause", exact=True).click()
    assert answered.value.status == 200
    page.wait_for_function("window.__paused === true")

    control = _rollout(fleet).get("control") or {}
    assert control.get("paused") is True and control.get("revision") == 2, control
    wait_for(lambda: _rollout(fleet).get("phase") == "Paused", "the rollout Paused")
    expect(panel.locator(".rollout-phase")).to_have_attribute(
        "data-phase", "Paused", timeout=PATIENCE
    )
    expect(panel).to_contain_text("(paused)")
    screenshot(page, "rollout-paused")

    url = f"{fleet.url}/ui/applications/{ROLLOUT_APP}/rollout"
    csrf = panel.locator('input[name="csrf"]').input_value()
    before = _rollout(fleet).get("control")
    # No session: the CSRF token alone is nothing.
    stranger = httpx.post(url, data={"action": "resume", "csrf": csrf}, timeout=30)
    assert stranger.status_code == 401, stranger.text
    # The session's cookie without its CSRF token (a forged form): refused.
    forged = page.request.post(url, form={"action": "resume"})
    assert forged.status == 403, forged.text()
    assert "CSRF" in forged.text()
    after = _rollout(fleet)
    assert after.get("control") == before and after.get("phase") == "Paused", after


def test_a_viewer_sees_the_rollout_but_no_buttons_and_the_hub_refuses_it_anyway(
    context: BrowserContext, fleet: Fleet
) -> None:
    """Issue 19: the dashboard shows only what the token's role may do."""
    if fleet.api("GET", f"/applications/{ROLLOUT_APP}").status_code == 404:
        fleet.ok("POST", "/applications", rollout_app(V1))
    viewer = fleet.ok("POST", "/tokens", {"subject": "vera", "role": "viewer"})["token"]
    page = context.new_page()
    sign_in(page, fleet.url, viewer)
    page.goto(f"{fleet.url}/ui/applications/{ROLLOUT_APP}")
    panel = page.locator("#rollout")
    expect(panel.get_by_test_id("rollout-read-only")).to_contain_text("needs role operator")
    expect(panel.get_by_role("button")).to_have_count(0)
    screenshot(page, "rollout-viewer")
    # A form sent by hand with the viewer's session: the hub refuses it, naming the role.
    before = _rollout(fleet).get("control")
    csrf = page.locator('form.logout input[name="csrf"]').input_value()
    sent = page.request.post(
        f"{fleet.url}/ui/applications/{ROLLOUT_APP}/rollout",
        form={"action": "pause", "csrf": csrf},
        headers={"hx-request": "true"},
    )
    assert sent.status == 409 and "needs role operator" in sent.text(), sent.text()
    assert _rollout(fleet).get("control") == before


# ---- the keyboard and dark mode ------------------------------------------------------


def test_the_keyboard_reaches_the_skip_link_the_nav_and_a_site_on_the_map(
    page: Page, fleet: Fleet
) -> None:
    expect(page.locator("#fleet-map")).to_have_attribute("data-loaded", "true", timeout=PATIENCE)
    page.keyboard.press("Tab")
    skip = page.locator("a.skip")
    expect(skip).to_be_focused()
    expect(skip).to_have_text("Skip to content")
    page.keyboard.press("Tab")
    expect(page.locator("header a.brand")).to_be_focused()
    nav = page.get_by_role("navigation", name="Main")
    for label in ("Map", "Sites", "Applications", "Policies", "Data", "Devices"):
        page.keyboard.press("Tab")
        expect(nav.get_by_role("link", name=label, exact=True)).to_be_focused()

    page.reload()
    expect(page.locator("#fleet-map")).to_have_attribute("data-loaded", "true", timeout=PATIENCE)
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    site = ""
    for _ in range(40):  # onward from the content to the first site on the map
        page.keyboard.press("Tab")
        site = page.evaluate("document.activeElement?.dataset?.site ?? ''")
        if site:
            break
    assert site in SITES, "no site on the map can be reached with Tab"
    screenshot(page, "map-marker-focused")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{fleet.url}/ui/sites/{site}")
    expect(page.locator("h1")).to_contain_text(f"Site {site}")
    expect(page.locator("#site-phase span.phase")).to_have_attribute(
        "data-phase", re.compile(r"^[A-Z][a-z]+$")
    )


def test_dark_mode_follows_the_system_and_differs_from_light(page: Page, fleet: Fleet) -> None:
    page.emulate_media(color_scheme="light")
    page.goto(f"{fleet.url}/ui/sites")
    body = page.locator("body")
    expect(page.locator("table.grid tbody tr")).to_have_count(len(SITES))
    colours = "b => [getComputedStyle(b).backgroundColor, getComputedStyle(b).color]"
    light = body.evaluate(colours)
    screenshot(page, "sites-light")

    page.emulate_media(color_scheme="dark")
    expect(body).to_have_css("background-color", DARK_BACKGROUND)
    dark = body.evaluate(colours)
    assert dark[0] != light[0] and dark[1] != light[1], (light, dark)
    assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    screenshot(page, "sites-dark")
