"""The console's pages and form actions.

Pages read through the storage module, as the JSON API does; changes go through the API's own
functions (`api.change_integration`, `Storage.replay`), so the console and the API cannot
disagree. In-page actions (test, create, save a version) call the JSON API from the browser.
"""

from __future__ import annotations

import difflib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

import transforms

from .. import api, oauth
from ..responses import APIError, error_response, json_body
from ..storage import STATUSES, NotFound, new_id
from . import sendtest, users
from .security import csrf_token

PAGE_SIZE = 50
RECENT_EVENTS = 10
BULK_REPLAY_BATCH = 200
DAY_S = 24 * 3600
REPLAYABLE = ("failed", "transform_error", "skipped", "delivered")

Page = Callable[[Request], Awaitable[Response]]

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_environment.filters["pretty_json"] = lambda value: json.dumps(value, indent=2, sort_keys=False)
_environment.filters["pretty_body"] = lambda text: _pretty_body(text)
_environment.filters["when"] = lambda seconds: (
    time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds)) if seconds else "—"
)
templates = Jinja2Templates(env=_environment)


def signed_in(page: Page) -> Page:
    """Send a visitor without a session to sign in (or to set up the owner account)."""

    async def wrapper(request: Request) -> Response:
        if not request.session.get("user"):
            if request.method != "GET":
                return error_response(401, "unauthorized", "sign in first")
            target = "/setup" if request.app.state.storage.count_users() == 0 else "/login"
            return RedirectResponse(f"{target}?{urlencode({'next': request.url.path})}", 303)
        return await page(request)

    wrapper.__name__ = page.__name__
    return wrapper


def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    settings = request.app.state.settings
    context.update(
        user=request.session.get("user"),
        csrf_token=csrf_token(request.scope),
        oauth_enabled=oauth.is_configured(settings),
        statuses=STATUSES,
    )
    # A notice left by a redirect from elsewhere (the OAuth callback) shows once.
    flash = request.session.pop("flash", None)
    context["message"] = context.get("message") or flash
    return templates.TemplateResponse(request, template, context, status_code=status)


# -- signing in -----------------------------------------------------------------------------------


async def setup(request: Request) -> Response:
    """First run: the owner proves they run this paybridge (the API token) and sets a password."""
    storage = request.app.state.storage
    if storage.count_users() > 0:
        return RedirectResponse("/login", 303)
    if request.method == "GET":
        return render(request, "setup.html", error=None, name="")

    form = await request.form()
    name = str(form.get("name", "")).strip()
    password = str(form.get("password", ""))
    error = None
    if not _same_secret(str(form.get("api_token", "")), request.app.state.settings.api_token):
        error = "That is not this paybridge's API token (printed by `make run`)."
    elif password != str(form.get("password_again", "")):
        error = "The two passwords differ."
    else:
        try:
            await run_in_threadpool(users.create_user, storage, name, password)
        except users.UserError as problem:
            error = f"{str(problem).capitalize()}."
    if error:
        return render(request, "setup.html", 422, error=error, name=name)
    _start_session(request, name)
    return RedirectResponse("/", 303)


async def login(request: Request) -> Response:
    storage = request.app.state.storage
    if storage.count_users() == 0:
        return RedirectResponse("/setup", 303)
    next_path = _local_path(request.query_params.get("next"))
    if request.method == "GET":
        return render(request, "login.html", error=None, name="", next=next_path)

    form = await request.form()
    name = str(form.get("name", "")).strip()
    password = str(form.get("password", ""))
    user = await run_in_threadpool(users.authenticate, storage, name, password)
    if user is None:
        error = "Wrong user name or password."
        return render(request, "login.html", 401, error=error, name=name, next=next_path)
    _start_session(request, user["name"])
    return RedirectResponse(_local_path(str(form.get("next", ""))), 303)


async def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", 303)


# -- integrations -----------------------------------------------------------------------------


@signed_in
async def home(request: Request) -> Response:
    storage = request.app.state.storage
    since = time.time() - DAY_S
    rows = []
    for record in storage.list_integrations():
        latest = storage.list_deliveries(record["id"], limit=1)
        rows.append(
            {
                "integration": record,
                "state": _state_word(record),
                "events_24h": storage.count_recent_deliveries(record["id"], since),
                "failures": storage.count_deliveries(record["id"], "failed")
                + storage.count_deliveries(record["id"], "transform_error"),
                "last_delivery": latest[0] if latest else None,
            }
        )
    return render(request, "integrations.html", rows=rows)


@signed_in
async def new_integration(request: Request) -> Response:
    return render(request, "editor.html", **_editor_context(None, None, []))


@signed_in
async def edit_integration(request: Request) -> Response:
    storage = request.app.state.storage
    record = _integration(request)
    code = storage.get_version(record["id"])["code"]
    recent = storage.list_deliveries(record["id"], limit=RECENT_EVENTS)
    return render(request, "editor.html", **_editor_context(record, code, recent))


@signed_in
async def integration_page(request: Request) -> Response:
    storage = request.app.state.storage
    record = _integration(request)
    query = request.query_params
    status = query.get("status") if query.get("status") in STATUSES else None
    event_type = (
        query.get("event_type") if query.get("event_type") in transforms.EVENT_TYPES else None
    )
    find = (query.get("find") or "").strip()
    offset = max(0, _int(query.get("offset"), 0))

    found = None
    if find and "@" in find:
        deliveries = storage.list_deliveries(
            record["id"], offset=offset, limit=PAGE_SIZE, email=find
        )
        total = storage.count_deliveries(record["id"], email=find)
    elif find:
        found = storage.find_delivery(record["id"], find)
        deliveries = [found] if found else []
        total = len(deliveries)
    else:
        deliveries = storage.list_deliveries(record["id"], status, offset, PAGE_SIZE, event_type)
        total = storage.count_deliveries(record["id"], status, event_type)

    filters = {"status": status or "", "event_type": event_type or "", "find": find}
    return render(
        request,
        "integration.html",
        integration=record,
        view=api._integration_view(request, record),
        state=_state_word(record),
        versions=storage.list_versions(record["id"]),
        deliveries=deliveries,
        total=total,
        offset=offset,
        page_size=PAGE_SIZE,
        filters=filters,
        page_link=lambda new_offset: "?" + urlencode({**filters, "offset": new_offset}),
        event_types=transforms.EVENT_TYPES,
        counts={s: storage.count_deliveries(record["id"], s) for s in STATUSES},
        message=request.query_params.get("message"),
    )


@signed_in
async def delivery_page(request: Request) -> Response:
    storage = request.app.state.storage
    record = _integration(request)
    delivery_id = request.path_params["delivery_id"]
    try:
        delivery = storage.get_delivery(delivery_id)
    except NotFound as error:
        return render(request, "missing.html", 404, message=str(error))
    if delivery["integration_id"] != record["id"]:
        return render(request, "missing.html", 404, message=f"no delivery {delivery_id!r} here")
    try:
        event: dict[str, Any] | None = storage.get_event(delivery_id)
    except NotFound:
        event = None
    return render(
        request,
        "delivery.html",
        integration=record,
        delivery=delivery,
        event=event,
        attempts=storage.get_attempts(delivery_id),
        message=request.query_params.get("message"),
    )


@signed_in
async def versions_page(request: Request) -> Response:
    storage = request.app.state.storage
    record = _integration(request)
    versions = storage.list_versions(record["id"])
    numbers = [int(v["version"]) for v in versions]
    current = int(record["version"])
    older = _int(request.query_params.get("a"), numbers[1] if len(numbers) > 1 else current)
    newer = _int(request.query_params.get("b"), current)
    by_number = {int(v["version"]): v for v in versions}
    if older not in by_number or newer not in by_number:
        return render(request, "missing.html", 404, message="no such version")
    diff = list(
        difflib.unified_diff(
            by_number[older]["code"].splitlines(),
            by_number[newer]["code"].splitlines(),
            f"version {older}",
            f"version {newer}",
            lineterm="",
        )
    )
    return render(
        request,
        "versions.html",
        integration=record,
        versions=versions,
        older=older,
        newer=newer,
        diff=[(_diff_kind(line), line) for line in diff],
        message=request.query_params.get("message"),
    )


# -- form actions -------------------------------------------------------------------------------


@signed_in
async def change(request: Request) -> Response:
    """One form per setting; each is a PATCH body handed to the API's own function."""
    record = _integration(request)
    form = await request.form()
    what = request.path_params["setting"]
    body: dict[str, Any]
    if what == "enabled":
        body = {"enabled": form.get("enabled") == "on"}
    elif what == "event-types":
        chosen = [str(v) for v in form.getlist("event_types")]
        body = {"event_types": chosen or None}
    elif what == "signing-secret":
        body = {"signing_secret": str(form.get("signing_secret", "")).strip()}
    elif what == "hubspot-token":
        body = {"hubspot_token": str(form.get("hubspot_token", "")).strip()}
    elif what == "name":
        body = {"name": str(form.get("name", ""))}
    else:
        return render(request, "missing.html", 404, message=f"no setting {what!r}")
    try:
        await api.change_integration(request, record, body)
    except APIError as error:
        return _back(record, f"Not saved: {error.message}")
    return _back(record, "Saved.")


@signed_in
async def rollback(request: Request) -> Response:
    storage = request.app.state.storage
    record = _integration(request)
    number = _int(request.path_params["version"], 0)
    try:
        code = storage.get_version(record["id"], number)["code"]
    except NotFound as error:
        return render(request, "missing.html", 404, message=str(error))
    record = await api.change_integration(request, record, {"code": code})
    message = f"Rolled back: version {record['version']} has the code of version {number}."
    query = urlencode({"a": number, "b": record["version"], "message": message})
    return RedirectResponse(f"/integrations/{record['id']}/versions?{query}", 303)


@signed_in
async def replay_one(request: Request) -> Response:
    storage = request.app.state.storage
    record = _integration(request)
    delivery_id = request.path_params["delivery_id"]
    try:
        if storage.get_delivery(delivery_id)["integration_id"] != record["id"]:
            raise NotFound(f"no delivery {delivery_id!r} here")
        storage.replay(delivery_id)
        message = "Replay queued: a worker delivers it with the current handler."
    except NotFound as error:
        message = f"Not replayed: {error}"
    query = urlencode({"message": message})
    return RedirectResponse(f"/integrations/{record['id']}/deliveries/{delivery_id}?{query}", 303)


@signed_in
async def start_bulk_replay(request: Request) -> Response:
    """Snapshot the deliveries to replay; the page then asks for batches and shows progress.
    A browser without JavaScript posts the form and gets every batch done at once."""
    storage = request.app.state.storage
    record = _integration(request)
    form = await request.form()
    status = str(form.get("status", "failed"))
    if status not in REPLAYABLE:
        return _back(record, f"Not replayed: status must be one of {', '.join(REPLAYABLE)}")
    bulk_id, total = storage.start_bulk_replay(record["id"], status)
    if request.headers.get("accept", "").startswith("application/json"):
        return JSONResponse({"id": bulk_id, "total": total, "done": 0})
    progress = {"total": total, "done": 0}
    while progress["done"] < progress["total"]:
        progress = storage.continue_bulk_replay(bulk_id, BULK_REPLAY_BATCH)
    return _back(record, f"{total} {status} deliveries queued again.")


@signed_in
async def send_sample_event(request: Request) -> Response:
    """Store paybridge's sample event of a type as if Dodo had sent it, to see a delivery
    through without Dodo. It is accepted by the function ingress uses after the signature
    check, under a webhook id of its own (`msg_sample_…`)."""
    storage = request.app.state.storage
    record = _integration(request)
    form = await request.form()
    event_type = str(form.get("event_type", ""))
    if event_type not in transforms.EVENT_TYPES:
        return _back(record, f"Not sent: no Dodo event type {event_type!r}")
    event = transforms.sample(event_type)
    webhook_id = new_id("msg_sample")
    storage.accept_event(record["id"], webhook_id, json.dumps(event).encode(), event)
    return _back(record, f"Sample {event_type} event {webhook_id} received: see it below.")


@signed_in
async def continue_bulk_replay(request: Request) -> Response:
    await json_body(request)
    try:
        progress = request.app.state.storage.continue_bulk_replay(
            request.path_params["bulk_id"], BULK_REPLAY_BATCH
        )
    except NotFound as error:
        return error_response(404, "not_found", str(error))
    return JSONResponse(progress)


@signed_in
async def send_test(request: Request) -> Response:
    try:
        body = await json_body(request)
        return JSONResponse(await sendtest.send_test(request, body))
    except APIError as error:
        return error_response(error.status, error.code, error.message, **error.details)


# -- helpers ------------------------------------------------------------------------------------


def _editor_context(
    record: dict[str, Any] | None, code: str | None, recent: list[dict[str, Any]]
) -> dict[str, Any]:
    catalogue = transforms.templates()
    return {
        "integration": record,
        "code": code if code is not None else catalogue[0]["code"],
        "templates": catalogue,
        "templates_json": json.dumps(
            {t["id"]: {"code": t["code"], "event_types": t["event_types"]} for t in catalogue}
        ),
        "event_types": transforms.EVENT_TYPES,
        "recent": recent,
        "chosen_event_types": (record or {}).get("event_types") or [],
    }


def _integration(request: Request) -> dict[str, Any]:
    try:
        return dict(
            request.app.state.storage.get_integration(request.path_params["integration_id"])
        )
    except NotFound as error:
        raise APIError(404, "not_found", str(error)) from None


def _state_word(record: dict[str, Any]) -> str:
    if record.get("state") == "needs_reconnect":
        return "needs reconnect"
    return "on" if record.get("enabled") else "off"


def _back(record: dict[str, Any], message: str) -> Response:
    return RedirectResponse(f"/integrations/{record['id']}?{urlencode({'message': message})}", 303)


def _start_session(request: Request, name: str) -> None:
    request.session.clear()
    request.session["user"] = name


def _same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def _local_path(value: str | None) -> str:
    """Only paths on this site: `next` must not send a signed-in owner elsewhere."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _pretty_body(text: Any) -> str:
    """A response body as received; indented when it is JSON."""
    if not isinstance(text, str):
        return json.dumps(text, indent=2)
    try:
        return json.dumps(json.loads(text), indent=2)
    except ValueError:
        return text


def _diff_kind(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "file"
    if line.startswith("@@"):
        return "hunk"
    return {"+": "added", "-": "removed"}.get(line[:1], "same")


def _console_errors(page: Page) -> Page:
    async def wrapper(request: Request) -> Response:
        try:
            return await page(request)
        except APIError as error:
            if error.status == 404:
                return render(request, "missing.html", 404, message=error.message)
            raise

    wrapper.__name__ = page.__name__
    return wrapper


_base = "/integrations/{integration_id}"
routes = [
    Route("/setup", setup, methods=["GET", "POST"]),
    Route("/login", login, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/integrations/new", new_integration, methods=["GET"]),
    Route(_base, _console_errors(integration_page), methods=["GET"]),
    Route(_base + "/edit", _console_errors(edit_integration), methods=["GET"]),
    Route(_base + "/versions", _console_errors(versions_page), methods=["GET"]),
    Route(_base + "/versions/{version}/rollback", _console_errors(rollback), methods=["POST"]),
    Route(_base + "/settings/{setting}", _console_errors(change), methods=["POST"]),
    Route(_base + "/replay", _console_errors(start_bulk_replay), methods=["POST"]),
    Route(_base + "/sample-event", _console_errors(send_sample_event), methods=["POST"]),
    Route(_base + "/deliveries/{delivery_id}", _console_errors(delivery_page), methods=["GET"]),
    Route(
        _base + "/deliveries/{delivery_id}/replay", _console_errors(replay_one), methods=["POST"]
    ),
    Route("/console/bulk-replay/{bulk_id}", continue_bulk_replay, methods=["POST"]),
    Route("/console/send-test", send_test, methods=["POST"]),
]
