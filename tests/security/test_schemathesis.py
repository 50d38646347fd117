"""Schemathesis over the hub's own ``/openapi.json``, against a real hub process.

Every operation of the document (one set of paths per kind, with the kinds' own
schemas) gets generated bodies, parameters and names, valid and invalid; the one
check is that no answer is a server error. Long polls are left out: the relay's
request queue and log relay (they wait for a site by design), a site's stream and
``watch=true`` (streams that never end). Examples are bounded
(``EDGEPLANE_FUZZ_EXAMPLES``, 25 per operation by default) so the run stays within a
minute or two.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from edgeplane.hub.app import HubSettings, create_app
from edgeplane.store.memory import MemoryStore
from tests.support.hub import HubProcess, running_hub

EXAMPLES = int(os.environ.get("EDGEPLANE_FUZZ_EXAMPLES", "25"))
LONG_POLLS = r"^/api/v1alpha1/sites/\{site\}/(requests|logs|stream)$"


@pytest.fixture(scope="module")
def fuzzed_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    data = tmp_path_factory.mktemp("fuzz") / "hub"
    data.mkdir()
    with running_hub(data) as hub:
        yield hub


def _document() -> dict[str, Any]:
    """The hub's document, built as the hub builds it (a test below checks that the real
    hub serves this very document)."""
    with tempfile.TemporaryDirectory() as data:
        app = create_app(MemoryStore(), HubSettings(data_dir=Path(data)))
        return app.openapi()


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT).exclude(method="GET", path_regex=LONG_POLLS)


def test_the_hub_serves_the_fuzzed_document(fuzzed_hub: HubProcess) -> None:
    served = httpx.get(f"{fuzzed_hub.url}/openapi.json", headers=fuzzed_hub.headers())
    assert served.status_code == 200
    assert served.json() == DOCUMENT
    assert "/api/v1alpha1/applications/{name}" in served.json()["paths"]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_error(case: Any, fuzzed_hub: HubProcess) -> None:
    if case.query:
        case.query.pop("watch", None)  # a watch is a stream that does not end
    response = case.call(base_url=fuzzed_hub.url, headers=fuzzed_hub.headers(), timeout=15)
    if _too_large_resource_version(response):
        return  # Kubernetes' answer to a version the store has not reached: by design
    case.validate_response(response, checks=[not_a_server_error])


def _too_large_resource_version(response: Any) -> bool:
    if response.status_code != 504:
        return False
    body = response.json()
    return bool(body.get("reason") == "TooLargeResourceVersion" and body.get("field"))
