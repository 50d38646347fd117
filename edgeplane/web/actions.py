"""What the dashboard's buttons do: a rollout's pause, resume, promote, approve (the
current wave) and rollback.

Each is a POST with the session's CSRF token (``context.checked_form``), carried out
by the hub's own rollout API with the session's token: the hub decides whether the
token may, and its refusal is shown as it said it. htmx swaps the rollout panel in
place; without JavaScript the browser is sent back to the application's page.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from edgeplane.client.errors import ClientError
from edgeplane.web.context import PREFIX, checked_form, signed_in
from edgeplane.web.pages import application_name

ACTIONS = {
    "pause": "pause",
    "resume": "resume",
    "promote": "promote",
    "approve": "approve",
    "rollback": "undo",
}
"""The buttons, and the hub's rollout action each one takes."""


async def rollout_action(request: Request) -> Response:
    user = await signed_in(request, ready=False)
    name = application_name(request)
    form = await checked_form(request, user)
    action = form.get("action", "")
    if action not in ACTIONS:
        raise ClientError(
            400, "BadRequest", f"action {action[:40]!r}: use one of {', '.join(ACTIONS)}", "action"
        )
    error = None
    try:
        await user.view.client.rollout_action(name, ACTIONS[action])
    except ClientError as e:
        error = f"{action} refused by the hub ({e.reason}): {e.message}"
    if not request.headers.get("hx-request"):
        return RedirectResponse(f"{PREFIX}/applications/{name}", 303)
    app = await user.view.client.get("applications", name)
    status = 200 if error is None else 409
    may = await user.may_roll()
    return user.render(
        request, "rollout.html", status, app=app, action_error=error, done=action, may_roll=may
    )


async def rollout_panel(request: Request) -> Response:
    """The rollout panel alone: htmx reloads it when the application changes."""
    user = await signed_in(request, ready=False)
    name = application_name(request)
    app = await user.view.client.get("applications", name)
    may = await user.may_roll()
    return user.render(request, "rollout.html", app=app, action_error=None, done=None, may_roll=may)


routes = [
    Route("/applications/{name}/rollout", rollout_action, methods=["POST"]),
    Route("/applications/{name}/rollout", rollout_panel, methods=["GET"]),
]
