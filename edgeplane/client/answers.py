"""What the hub answers, read into the wire types (``edgeplane.api.wire``): objects,
list pages, watch events and other JSON bodies, with a ``ClientError`` (never a
traceback) for anything malformed, and the admission warnings of its headers.

This is the boundary where the hub's validated data enters the client: the casts to
``Object`` and its family happen here and nowhere else. Neighbours: ``requests``
builds what is sent; ``hub`` sends it.
"""

from __future__ import annotations

import json
import re
from typing import cast

import httpx

from edgeplane.api.wire import Json, ListObject, Object, WatchEvent
from edgeplane.client.errors import malformed_answer

Body = dict[str, Json]
"""A JSON answer that is not an object of a kind: discovery, an explanation, a dry
run, a token, an artifact record."""


def body(response: httpx.Response) -> Body:
    """The JSON object the hub answered; a ClientError (not a traceback) otherwise."""
    try:
        found = response.json()
    except (ValueError, RecursionError):
        found = None
    if not isinstance(found, dict):
        raise malformed_answer(response.status_code, "the answer is not a JSON object")
    return found


def obj(response: httpx.Response) -> Object:
    return cast(Object, body(response))


def page(response: httpx.Response) -> ListObject:
    return cast(ListObject, body(response))


def next_page(page: ListObject) -> str | None:
    token = page.get("metadata", {}).get("continue")
    return str(token) if token else None


def items(answer: Body) -> list[Body]:
    return list(answer["items"])


def event(line: str) -> WatchEvent | None:
    """One line of a watch; None for a blank one."""
    if not line.strip():
        return None
    try:
        found = json.loads(line)
    except (ValueError, RecursionError):  # also JSON nested past the stack
        found = None
    if not isinstance(found, dict) or not isinstance(found.get("object"), dict):
        raise malformed_answer(200, "a watch event is not a JSON object with an object")
    return cast(WatchEvent, found)


def pushed(response: httpx.Response) -> tuple[Body, bool]:
    """The hub's artifact record, and whether it is new (201) rather than unchanged (200)."""
    return body(response), response.status_code == 201


_WARNING = re.compile(r'299 - "((?:[^"\\]|\\.)*)"')


def warnings_of(response: httpx.Response) -> list[str]:
    """The texts of the hub's ``Warning: 299 - "..."`` headers (admission warnings)."""
    found = []
    for header in response.headers.get_list("warning"):
        found += [re.sub(r"\\(.)", r"\1", m) for m in _WARNING.findall(header)]
    return found


def records_page(answer: Body) -> Body:
    """A page of records as the API promises it, else a ClientError (not a KeyError
    later in the caller)."""
    items, after = answer.get("items"), answer.get("next")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise malformed_answer(200, "the records' items are not a list of objects")
    if not isinstance(after, int) or isinstance(after, bool):
        raise malformed_answer(200, "the records' next is not an id")
    return answer
