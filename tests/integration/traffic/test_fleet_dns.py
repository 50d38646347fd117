"""Health-aware DNS against a real fleet: a hub, agents in two regions, ``edgeplane
dns`` beside the hub, and each site's agent answering for its own site.

* A client in a region (placed by its EDNS client subnet) gets that region's endpoints
  only; one at a site gets that site's; SRV lists every site, its own region first.
* ``edgeplane endpoints`` shows what a client in a region is answered.
* A site killed (its agent and its workloads) leaves the answers once the hub marks it
  Offline; its region's clients then get the rest of the region.
* A site's agent answers site-local first, and keeps answering while the hub is away.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.integration.traffic.fleetdns import (
    SITES,
    SUBNETS,
    ZONE,
    add_site,
    addresses,
    answered,
    edgeplane,
    fleet_dns,
    query,
    serving,
    site_group,
    srv,
    web_app,
)
from tests.support.fleet import Fleet, wait_for
from tests.support.ports import free_port

NAME = f"web.{ZONE}."


def test_clients_get_their_region_first_and_a_killed_site_leaves_the_answers(
    tmp_path: Path,
) -> None:
    fleet = Fleet(tmp_path)
    try:
        fleet.start_hub()
        fleet.ok("POST", "/sitegroups", site_group())
        agents = {name: add_site(fleet, name) for name in SITES}
        fleet.ok("POST", "/applications", web_app())
        serving(fleet, "web", set(SITES))
        with fleet_dns(fleet, tmp_path) as port:
            eu = wait_for(
                lambda: (a := answered(port, NAME, subnet=SUBNETS["eu-west"])) and addresses(a),
                "eu-west answered",
            )
            assert eu == {"127.0.0.11", "127.0.0.12"}
            assert addresses(query(port, NAME, subnet=SUBNETS["us-east"])) == {"127.0.0.13"}
            assert addresses(query(port, NAME, subnet=SUBNETS["paris"])) == {"127.0.0.11"}
            priorities = srv(query(port, f"_http._tcp.{NAME}", "SRV", subnet=SUBNETS["eu-west"]))
            assert set(priorities) == set(SITES)
            assert priorities["paris"] == priorities["lyon"] < priorities["nyc"]

            shown = subprocess.run(
                [
                    *edgeplane(),
                    "--server",
                    fleet.url,
                    "--token",
                    fleet.token,
                    "endpoints",
                    "web",
                    "--region",
                    "us-east",
                    "-o",
                    "json",
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            answer = json.loads(shown.stdout)
            assert [a["site"] for a in answer["answer"]] == ["nyc"]
            assert {e["site"] for e in answer["endpoints"]} == set(SITES)

            agents["paris"].kill9()
            agents["paris"].kill_leftovers()
            wait_for(
                lambda: addresses(query(port, NAME, subnet=SUBNETS["paris"])) == {"127.0.0.12"},
                "paris gone from the answers (its clients sent to lyon)",
            )
            assert fleet.site_phase("paris") == "Offline"
            assert addresses(query(port, NAME, subnet=SUBNETS["eu-west"])) == {"127.0.0.12"}
            assert addresses(query(port, NAME, subnet=SUBNETS["us-east"])) == {"127.0.0.13"}
    finally:
        fleet.close()


def test_a_site_answers_its_own_endpoints_first_even_cut_off_from_the_hub(
    tmp_path: Path,
) -> None:
    fleet = Fleet(tmp_path)
    port = free_port()
    try:
        fleet.start_hub()
        fleet.ok("POST", "/sitegroups", site_group())
        add_site(fleet, "paris", "--dns-listen", f"127.0.0.1:{port}", "--dns-zone", ZONE)
        add_site(fleet, "nyc")
        fleet.ok("POST", "/applications", web_app())
        serving(fleet, "web", {"paris", "nyc"})
        both = wait_for(lambda: _both(port), "paris's agent knows nyc's endpoint")
        assert both["paris"] < both["nyc"]
        assert addresses(query(port, NAME)) == {"127.0.0.11"}

        fleet.stop_hub()
        assert addresses(query(port, NAME)) == {"127.0.0.11"}
        cut_off = srv(query(port, f"_http._tcp.{NAME}", "SRV"))
        assert cut_off == both
    finally:
        fleet.close()


def _both(port: int) -> dict[str, int] | None:
    """SRV priorities by site once the site's agent answers for both sites."""
    found = answered(port, f"_http._tcp.{NAME}", "SRV")
    priorities = srv(found) if found is not None else {}
    return priorities if len(priorities) == 2 else None
