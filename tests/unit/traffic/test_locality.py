"""``traffic.locality``: longest-prefix matching over IPv4 and IPv6 (addresses and
client subnets), and a map that names the field and the fix when it is wrong."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest

from edgeplane.traffic.locality import (
    NETWORKS_MAX,
    Locality,
    LocalityError,
    Place,
    load_locality,
    load_locality_file,
    locality_from,
)

MAP = {
    "networks": [
        {"cidr": "10.0.0.0/8", "region": "eu"},
        {"cidr": "10.1.0.0/16", "region": "eu-west"},
        {"cidr": "10.1.2.0/24", "site": "paris-1", "lat": 48.8, "lon": 2.3},
        {"cidr": "0.0.0.0/0", "region": "anywhere"},
        {"cidr": "2001:db8::/32", "region": "eu-west"},
        {"cidr": "2001:db8:1::/48", "site": "lyon-1"},
    ]
}
PARIS = Place(site="paris-1", lat=48.8, lon=2.3)


def test_locality_from_the_map() -> None:
    assert len(locality_from(MAP)) == 6


PLACES = [
    ("in the longest", "10.1.2.3", PARIS),
    ("in the middle", "10.1.9.9", Place(region="eu-west")),
    ("in the shortest", "10.200.0.1", Place(region="eu")),
    ("in the default route", "192.0.2.1", Place(region="anywhere")),
    ("first of a network", "10.1.2.0", PARIS),
    ("last of a network", "10.1.2.255", PARIS),
    ("just past a network", "10.1.3.0", Place(region="eu-west")),
    ("ipv6", "2001:db8:2::1", Place(region="eu-west")),
    ("ipv6 longest", "2001:db8:1::5", Place(site="lyon-1")),
    ("ipv6 nowhere", "2001:db9::1", Place()),
    ("ipv4-mapped ipv6", "::ffff:10.1.2.3", PARIS),
    ("subnet inside the longest", "10.1.2.0/25", PARIS),
    ("subnet as long as a network", "10.1.2.0/24", PARIS),
    ("subnet wider than the longest", "10.1.0.0/22", Place(region="eu-west")),
    ("subnet of /0", "0.0.0.0/0", Place(region="anywhere")),
    ("ipv6 subnet", "2001:db8:1::/56", Place(site="lyon-1")),
    ("ipv6 subnet wider", "2001:db8::/40", Place(region="eu-west")),
    ("ipv6 subnet wider than all", "2001::/16", Place()),
    ("ipv4-mapped subnet", "::ffff:10.1.2.0/120", PARIS),
]


@pytest.mark.parametrize(("client", "place"), [p[1:] for p in PLACES], ids=[p[0] for p in PLACES])
def test_longest_prefix(client: str, place: Place) -> None:
    address = ipaddress.ip_network(client) if "/" in client else ipaddress.ip_address(client)
    assert locality_from(MAP).place_of(address) == place


def test_an_empty_locality_places_no_one() -> None:
    assert Locality(()).place_of(ipaddress.ip_address("10.1.2.3")) == Place()


def net(cidr: object, **fields: object) -> dict[str, object]:
    return {"cidr": cidr, **fields}


def networks(*entries: object) -> dict[str, object]:
    return {"networks": list(entries)}


GOOD = net("10.9.0.0/16", region="r")
ANY = "0.0.0.0/0"
THREE_GOOD = [net(f"10.{i}.0.0/16", region="r") for i in (7, 8, 9)]
ERRORS: list[tuple[str, object, str]] = [
    ("not a mapping", ["x"], "must be a mapping with a 'networks' list, got list"),
    ("unknown top field", {"networks": [], "netwrks": []}, "'netwrks': not a field"),
    ("networks missing", {}, "networks: must be a list"),
    ("networks a mapping", {"networks": {"cidr": "10.0.0.0/8"}}, "networks: must be a list"),
    ("entry a string", networks(GOOD, "10.0.0.0/8"), "networks[1]: must be a mapping"),
    ("unknown field", networks(net(ANY, regoin="x")), "networks[0].regoin: not a field"),
    ("cidr missing", networks({"region": "x"}), "networks[0].cidr: missing"),
    ("cidr a number", networks(net(10, region="x")), "networks[0].cidr: must be a string"),
    (
        "prefix too long",
        networks(*THREE_GOOD, net("10.1.0.0/33", region="x")),
        "networks[3].cidr: '10.1.0.0/33' is not a network: ",
    ),
    ("host bits", networks(net("10.1.0.1/16", region="x")), "write '10.1.0.0/16'"),
    ("a name", networks(net("paris", region="x")), "'paris' is not a network"),
    (
        "listed twice",
        networks(GOOD, net("10.9.0.0/16", site="s")),
        "networks[1].cidr: '10.9.0.0/16' is listed twice (also networks[0])",
    ),
    ("no place", networks(net(ANY)), "networks[0]: names no place"),
    ("region empty", networks(net(ANY, region="")), "networks[0].region: must be a name"),
    ("site a number", networks(net(ANY, site=3)), "networks[0].site: must be a name"),
    ("lat alone", networks(net(ANY, lat=1.0)), "networks[0]: lat without lon"),
    ("lon alone", networks(net(ANY, lon=1.0)), "networks[0]: lon without lat"),
    ("lat a string", networks(net(ANY, lat="1", lon=2)), "networks[0].lat: must be a number"),
    ("lat a bool", networks(net(ANY, lat=True, lon=2)), "networks[0].lat: must be a number"),
    ("lat too far", networks(net(ANY, lat=90.5, lon=2)), "between -90 and 90"),
    ("lon too far", networks(net(ANY, lat=1, lon=-181)), "networks[0].lon: -181 is out"),
    ("lon nan", networks(net(ANY, lat=1, lon=float("nan"))), "networks[0].lon: nan is out"),
    ("lat huge", networks(net(ANY, lat=10**400, lon=1)), "networks[0].lat: "),
]


@pytest.mark.parametrize(("data", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_name_the_field_and_the_fix(data: object, message: str) -> None:
    with pytest.raises(LocalityError) as raised:
        locality_from(data)
    assert message in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_at_most_10000_networks() -> None:
    entries = [net(f"10.{i // 256}.{i % 256}.0/24", region="r") for i in range(NETWORKS_MAX)]
    assert len(locality_from(networks(*entries))) == NETWORKS_MAX
    with pytest.raises(LocalityError, match="networks: 10001 networks, at most 10000"):
        locality_from(networks(*entries, net("11.0.0.0/8", region="r")))


YAML = """\
networks:
  - {cidr: 10.1.2.0/24, site: paris-1, lat: 48.8, lon: 2.3}
  - cidr: 10.1.0.0/16
    region: eu-west
"""
TEXTS: list[tuple[str, Any]] = [
    ("json", json.dumps(MAP)),
    ("yaml", YAML),
    ("bytes", YAML.encode()),
    ("a mapping", MAP),
]


@pytest.mark.parametrize("text", [t[1] for t in TEXTS], ids=[t[0] for t in TEXTS])
def test_load_locality(text: Any) -> None:
    locality = load_locality(text)
    assert locality.place_of(ipaddress.ip_address("10.1.2.3")) == PARIS


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("networks: [", "neither JSON nor YAML"),
        (b"\xff\xfe", "not UTF-8"),
        ("- a\n- b\n", "got list"),
        ("", "got NoneType"),
    ],
    ids=["bad yaml", "not utf-8", "a list", "empty"],
)
def test_load_locality_errors(text: str | bytes, message: str) -> None:
    with pytest.raises(LocalityError, match=message):
        load_locality(text)


@pytest.mark.parametrize(
    ("name", "text"), [("map.json", json.dumps(MAP)), ("map.yaml", YAML)], ids=["json", "yaml"]
)
def test_load_locality_file(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert load_locality_file(path).place_of(ipaddress.ip_address("10.1.2.3")) == PARIS


def test_load_locality_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(LocalityError, match=r"missing\.yaml'.*cannot read it"):
        load_locality_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text(json.dumps(networks(net(ANY))))
    with pytest.raises(LocalityError, match=r"bad\.yaml': networks\[0\]: names no place"):
        load_locality_file(bad)
