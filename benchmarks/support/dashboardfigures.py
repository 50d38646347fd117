"""``dashboard.py``'s figures: medians and p90 of the runs, the table, the JSON line.

Pure (no I/O but ``print``). A page's runs are the dicts ``dashboardpages.load``
returned; a metric's spread is its median (``statistics.median``) and its p90 (nearest
rank, ``benchmarks/support/stats.py``: of 5 runs, the slowest), over the runs that
measured it. Runs with an ``error`` are counted apart and left out of the spreads.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from benchmarks.support.stats import percentile

METRICS = (
    "ttfb_ms", "fcp_ms", "dcl_ms", "load_ms", "drawn_ms", "live_ms", "wall_ms", "bytes",
    "html_bytes", "long_tasks_ms", "longest_task_ms",
)  # fmt: skip
MAP_METRICS = (
    "points_ms", "points_start_ms", "points_end_ms", "points_last_end_ms", "points_bytes",
    "points_fetches",
    "markers", "clusters",
)  # fmt: skip
PAGES = {
    "map": ("/ui/", True),
    "sites": ("/ui/sites", False),
    "sites_eu_west_online": ("/ui/sites?selector=region%3Deu-west&phase=Online", False),
    "site": ("/ui/sites/{site}", False),
}
"""What is measured: name -> (path, is the map)."""


def spread(values: Sequence[float]) -> dict[str, float] | None:
    """``{"p50", "p90", "n"}`` of some values, None when there are none."""
    if not values:
        return None
    return {
        "p50": round(statistics.median(values), 1),
        "p90": round(percentile(values, 90), 1),
        "n": len(values),
    }


def summarise(runs: Sequence[dict[str, Any]], is_map: bool) -> dict[str, Any]:
    """A page's runs as a spread per metric, the failed runs and their reasons."""
    good = [r for r in runs if "error" not in r]
    wanted = METRICS + (MAP_METRICS if is_map else ())
    found: dict[str, Any] = {"runs": len(runs), "failed": len(runs) - len(good)}
    for metric in wanted:
        values = [float(r[metric]) for r in good if r.get(metric) is not None]
        found[metric] = spread(values)
    if errors := sorted({str(r["error"]) for r in runs if "error" in r}):
        found["errors"] = errors
    counts = {r.get("count_text") for r in good if r.get("count_text")}
    if counts:
        found["count_text"] = sorted(str(c) for c in counts)[0]
    return found


def _p50(summary: dict[str, Any] | None, metric: str) -> float | None:
    cell = (summary or {}).get(metric)
    return float(cell["p50"]) if cell else None


def ratios(pages: dict[str, Any], listing: dict[str, Any]) -> dict[str, float | None]:
    """How many times one listing of every site over the API costs a dashboard page's
    own answer (p50 over p50): against the sites table's HTML (``ttfb``: the server's
    part of a page), its first paint, the map drawn, and in bytes."""
    list_ms, list_bytes = _p50(listing, "ms"), _p50(listing, "bytes")

    def over(value: float | None, page: float | None) -> float | None:
        return float(f"{value / page:.2g}") if value is not None and page else None

    sites, map_ = pages.get("sites"), pages.get("map")
    return {
        "list_all_ms_vs_sites_ttfb": over(list_ms, _p50(sites, "ttfb_ms")),
        "list_all_ms_vs_sites_fcp": over(list_ms, _p50(sites, "fcp_ms")),
        "list_all_ms_vs_map_drawn": over(list_ms, _p50(map_, "drawn_ms")),
        "list_all_bytes_vs_sites_bytes": over(list_bytes, _p50(sites, "bytes")),
        "list_all_bytes_vs_map_bytes": over(list_bytes, _p50(map_, "bytes")),
    }


def cell(summary: dict[str, Any] | None, metric: str, scale: float = 1.0) -> str:
    found = (summary or {}).get(metric)
    if not found:
        return "-"
    p50, p90 = found["p50"] / scale, found["p90"] / scale
    if found["n"] == 1:
        return f"{p50:.0f}"
    return f"{p50:.0f}/{p90:.0f}"


COLUMNS = (
    ("runs", 5),
    ("ttfb ms", 11),
    ("fcp ms", 11),
    ("dcl ms", 11),
    ("drawn ms", 11),
    ("live ms", 11),
    ("kB", 9),
    ("points ms", 10),
)


def page_row(sites: int, name: str, summary: dict[str, Any]) -> str:
    runs = f"{summary['runs'] - summary['failed']}" + (
        f"!{summary['failed']}" if summary["failed"] else ""
    )
    cells = [
        runs,
        cell(summary, "ttfb_ms"),
        cell(summary, "fcp_ms"),
        cell(summary, "dcl_ms"),
        cell(summary, "drawn_ms"),
        cell(summary, "live_ms"),
        cell(summary, "bytes", 1000),
        cell(summary, "points_ms"),
    ]
    return f"{sites:>6}  {name:<22}" + "".join(
        f" {c:>{w}}" for c, (_, w) in zip(cells, COLUMNS, strict=True)
    )


def print_table(results: Sequence[dict[str, Any]], args: Any) -> None:
    print()
    hub_cpu = "any CPU" if args.hub_cpu is None else f"CPU {args.hub_cpu}"
    client_cpu = "any CPU" if args.client_cpu is None else f"CPU {args.client_cpu}"
    print(
        "dashboard page loads (/ui) on a hub with N simulated sites Online"
        f" ({args.heartbeat_seconds:g} s heartbeats), SQLite, plain HTTP on loopback; hub on"
        f" {hub_cpu}, simulator, chromium and driver on {client_cpu}; p50/p90 (nearest rank)"
        " over the runs,"
        " each in a fresh browser context (cold cache) on a warm fleet view; 'cold view': the"
        " first load after sign-in (the dashboard lists the N sites from the hub)"
    )
    print(f"{'sites':>6}  {'page':<22}" + "".join(f" {k:>{w}}" for k, w in COLUMNS))
    for result in results:
        n = result["sites"]
        pages = result.get("pages", {})
        if "map_cold_view" in pages:
            print(page_row(n, "map, cold view", pages["map_cold_view"]))
        for name, label in (
            ("map", "map /ui/"),
            ("sites", "sites /ui/sites"),
            ("sites_eu_west_online", "sites eu-west Online"),
            ("site", "one site"),
        ):
            if name in pages:
                print(page_row(n, label, pages[name]))
        listing = result.get("api_list_all")
        if listing:
            row = {
                "runs": listing["runs"],
                "failed": 0,
                "wall_ms": listing["ms"],
                "bytes": listing["bytes"],
            }
            label = f"API list all ({listing['pages']}x{listing['page_size']})"
            print(
                f"{n:>6}  {label:<22} {listing['runs']:>5} {cell(row, 'wall_ms'):>11}"
                f" {'':>11} {'':>11} {'':>11} {'':>11} {cell(row, 'bytes', 1000):>9}"
            )
    print(
        "(ttfb: the HTML's responseStart; fcp: first-contentful-paint; dcl:"
        " DOMContentLoaded's end (the deferred scripts ran); drawn: #fleet-map data-loaded;"
        " live: the SSE stream open; all ms since navigation start. kB: the transferSize of"
        " the navigation and every resource entry once the page was quiet 1 s, points JSON"
        " included, SSE stream not. points ms: the first /ui/map/points fetch. API list all:"
        " GET /api/v1alpha1/sites, 500 a page, every page read and decoded: its ms in the"
        " ttfb column.)"
    )
    print()
    print(
        f"{'sites':>6} {'hub RSS MB: idle':>17} {'cold view':>10} {'after runs':>11}"
        f" {'dashboard MB':>13} {'hub CPU%: idle':>15} {'with view':>10} {'max 1 s':>8}"
        f" {'runs':>5}"
        f" {'list/sites ttfb':>16} {'list/sites fcp':>15} {'list/map drawn':>15}"
        f" {'list/sites kB':>14}"
    )
    for result in results:
        rss = result.get("hub_rss_mb", {})
        ratio = result.get("ratios", {})
        print(
            f"{result['sites']:>6} {_num(rss.get('before_sign_in')):>17}"
            f" {_num(rss.get('after_cold_view')):>10} {_num(rss.get('after_runs')):>11}"
            f" {_num(result.get('dashboard_rss_mb')):>13}"
            f" {_num(result.get('hub_idle_cpu_pct')):>15}"
            f" {_num(result.get('hub_idle_with_view_cpu_pct')):>10}"
            f" {_num((result.get('hub_idle_with_view') or {}).get('max_1s_pct')):>8}"
            f" {_num(result.get('hub_runs_cpu_pct')):>5}"
            f" {_num(ratio.get('list_all_ms_vs_sites_ttfb'), 'x'):>16}"
            f" {_num(ratio.get('list_all_ms_vs_sites_fcp'), 'x'):>15}"
            f" {_num(ratio.get('list_all_ms_vs_map_drawn'), 'x'):>15}"
            f" {_num(ratio.get('list_all_bytes_vs_sites_bytes'), 'x'):>14}"
        )
    print(
        f"(dashboard MB: hub RSS after the runs minus before sign-in; hub CPU: % of one core,"
        f" mean over {args.idle_seconds:g} s idle before sign-in (the sites' heartbeats), the"
        " same with the dashboard's view alive and no page open after the runs (its busiest"
        " second: max 1 s), and over the warm runs; list/...: the API listing of all sites"
        " over the dashboard page, p50 over p50)"
    )
    for result in results:
        for note in result.get("notes", []):
            print(f"{result['sites']:>6} note: {note}")
        for error in result.get("errors", []):
            print(f"{result['sites']:>6} ! {error}")


def _num(value: Any, suffix: str = "") -> str:
    if value is None:
        return "-"
    if suffix:  # a ratio: two significant digits
        return f"{value:.0f}{suffix}" if value >= 10 else f"{value:.2g}{suffix}"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def headline(results: Sequence[dict[str, Any]], args: Any) -> dict[str, Any]:
    """The final JSON line: every size's figures, and the largest size's in front."""
    done = [r for r in results if r.get("pages")]
    top = done[-1] if done else {}
    pages = top.get("pages", {})
    return {
        "benchmark": "dashboard",
        "sizes": [r["sites"] for r in results],
        "runs": args.repeat,
        "sites_at_max": top.get("sites"),
        "map_drawn_ms_p50": _p50(pages.get("map"), "drawn_ms"),
        "map_fcp_ms_p50": _p50(pages.get("map"), "fcp_ms"),
        "map_cold_view_drawn_ms": _p50(pages.get("map_cold_view"), "drawn_ms"),
        "sites_fcp_ms_p50": _p50(pages.get("sites"), "fcp_ms"),
        "sites_filtered_fcp_ms_p50": _p50(pages.get("sites_eu_west_online"), "fcp_ms"),
        "site_fcp_ms_p50": _p50(pages.get("site"), "fcp_ms"),
        "api_list_all_ms_p50": _p50(top.get("api_list_all"), "ms"),
        "list_all_vs_sites_ttfb": (top.get("ratios") or {}).get("list_all_ms_vs_sites_ttfb"),
        "list_all_vs_sites_fcp": (top.get("ratios") or {}).get("list_all_ms_vs_sites_fcp"),
        "dashboard_rss_mb": top.get("dashboard_rss_mb"),
        "per_size": {str(r["sites"]): r for r in results},
    }
