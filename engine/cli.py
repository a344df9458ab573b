"""The `paybridge` command: dev, web, worker, transform run, replay, user create."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from . import redis_server
from .settings import Settings, SettingsError, load_settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_DEV_WORKERS = 2
STOP_TIMEOUT_S = 10.0
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


@click.group()
def main() -> None:
    """paybridge: Dodo Payments events into HubSpot, through a handler you write."""


@main.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option(
    "--workers",
    default=DEFAULT_DEV_WORKERS,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes: while a handler runs into its time limit on one, the others deliver.",
)
def dev(host: str, port: int, workers: int) -> None:
    """Run Redis (embedded unless PAYBRIDGE_REDIS_URL is set), the web app and one worker."""
    if not _port_is_free(host, port):
        raise click.ClickException(
            f"{host}:{port} is in use (another paybridge?); pick another port: "
            f"`make run PORT={port + 1}` or `paybridge dev --port {port + 1}`"
        )
    # Webhook and OAuth links follow the port chosen here, unless a public URL is set.
    os.environ.setdefault("PAYBRIDGE_PUBLIC_URL", f"http://{host}:{port}")
    settings = _settings()
    with (
        _stopped_by_signals(),
        _only_dev(settings.data_dir),
        _redis(settings, dev=True) as settings,
    ):
        env = {**os.environ, "PAYBRIDGE_REDIS_URL": str(settings.redis_url)}
        command = [sys.executable, "-m", "engine.cli"]
        # Each child has a session of its own: a Ctrl-C in the terminal reaches this process
        # alone, which stops the children first and Redis last, so none sees Redis vanish.
        children = [
            subprocess.Popen(
                [*command, "web", "--host", host, "--port", str(port)],
                env=env,
                start_new_session=True,
            ),
            *(
                subprocess.Popen([*command, "worker"], env=env, start_new_session=True)
                for _ in range(workers)
            ),
        ]
        click.echo(f"paybridge is starting at http://{host}:{port}")
        if settings.public_url != f"http://{host}:{port}":
            click.echo(f"  public URL (webhook and OAuth links): {settings.public_url}")
        click.echo(
            f"  console:   http://{host}:{port}/ (the first visit creates the owner account)"
        )
        click.echo(f"  API token: {settings.api_token}")
        click.echo(f"  Redis:     {settings.redis_url}")
        click.echo(f"  workers:   {workers}")
        click.echo("  Ctrl-C stops everything.")
        try:
            _wait_any(children)
        except KeyboardInterrupt:
            click.echo("stopping…")
        finally:
            _stop_all(children)


@main.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
def web(host: str, port: int) -> None:
    """Serve the ingress, the API and the console."""
    import uvicorn

    from .app import create_app

    settings = _settings()
    _configure_logging(settings.log_level)
    with _redis(settings) as settings:
        app = create_app(settings)
        # What start-up built lives as long as the process: the garbage collector need not
        # walk it again and again while the server handles events.
        gc.collect()
        gc.freeze()
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst: bool) -> None:
    """Deliver events: run handlers in the sandbox, send to HubSpot, retry."""
    from worker import run_worker

    from .storage import Storage

    settings = _settings()
    _configure_logging(settings.log_level)
    os.nice(settings.worker_nice)
    with _redis(settings) as settings:
        client = redis_server.connect(str(settings.redis_url))
        storage = Storage.for_settings(settings, client)
        run_worker(settings, storage, client, burst=burst)


@main.group()
def transform() -> None:
    """Try a handler locally."""


@transform.command("run")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--event", "event_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--event-type", help="Use paybridge's sample event of this type.")
def transform_run(file: Path, event_file: Path | None, event_type: str | None) -> None:
    """Run FILE's handler(webhook) on an event and print the request it would send."""
    import transforms
    from sandbox import SandboxPool, check_handler

    settings = _settings(with_secrets=False)
    source = file.read_text()
    problems = check_handler(source, settings.sandbox_limits)
    if problems:
        for problem in problems:
            click.echo(
                f"{file}:{problem['line']}:{problem['column']}: {problem['message']}", err=True
            )
        sys.exit(1)
    if event_file is not None:
        event = json.loads(event_file.read_text())
    else:
        event = transforms.sample(event_type or "payment.succeeded")

    limits = settings.sandbox_limits
    with SandboxPool(size=1, limits=limits) as pool:
        result = pool.run(source, event, allowed_hosts=settings.allowed_hosts)
    click.echo(json.dumps(result, indent=2))
    if result.get("error"):
        sys.exit(1)


@main.command()
@click.option("--integration", "integration_id", required=True, help="The integration's id.")
@click.option("--delivery", "delivery_id", help="Replay only this delivery.")
@click.option("--status", default="failed", show_default=True, help="Which deliveries to replay.")
@click.option("--version", type=int, help="Handler version to use (default: the current one).")
def replay(integration_id: str, delivery_id: str | None, status: str, version: int | None) -> None:
    """Deliver failed deliveries again, with a progress bar."""
    from tqdm import tqdm

    from .storage import NotFound, Storage

    settings = _settings()
    with _redis(settings) as settings:
        client = redis_server.connect(str(settings.redis_url))
        storage = Storage.for_settings(settings, client)
        try:
            storage.get_integration(integration_id)
        except NotFound as error:
            raise click.ClickException(str(error)) from None
        if delivery_id:
            _check_delivery_of(storage, integration_id, delivery_id)
        if version is not None:
            try:
                storage.get_version(integration_id, version)
            except NotFound as error:
                raise click.ClickException(str(error)) from None
        ids = [delivery_id] if delivery_id else storage.delivery_ids(integration_id, status)
        replayed = 0
        for one in tqdm(ids, desc="replaying", unit="delivery"):
            try:
                storage.replay(one, version)
            except NotFound as error:
                click.echo(f"skipped {one}: {error}", err=True)
                continue
            replayed += 1
        noun = "delivery" if replayed == 1 else "deliveries"
        click.echo(f"{replayed} {noun} enqueued again; a worker delivers them")
        if replayed < len(ids):
            raise click.ClickException(f"{len(ids) - replayed} could not be replayed (above)")


def _check_delivery_of(storage: Any, integration_id: str, delivery_id: str) -> None:
    from .storage import NotFound

    try:
        delivery = storage.get_delivery(delivery_id)
    except NotFound as error:
        raise click.ClickException(str(error)) from None
    if delivery["integration_id"] != integration_id:
        raise click.ClickException(f"delivery {delivery_id!r} is not of {integration_id!r}")


@main.group()
def user() -> None:
    """Console accounts."""


@user.command("create")
@click.argument("name")
@click.password_option(help="The password (asked for when not given).")
def user_create(name: str, password: str) -> None:
    """Create a console account NAME that can sign in to the web console."""
    from .console.users import UserError, create_user
    from .storage import Storage

    settings = _settings()
    with _redis(settings) as settings:
        client = redis_server.connect(str(settings.redis_url))
        try:
            create_user(Storage.for_settings(settings, client), name, password)
        except UserError as error:
            raise click.ClickException(str(error)) from None
    click.echo(f"created user {name!r}: sign in at {settings.public_url}/login")


def _settings(with_secrets: bool = True) -> Settings:
    try:
        settings = load_settings(with_secrets=with_secrets)
    except SettingsError as error:
        raise click.ClickException(str(error)) from None
    if "api_token" in settings.generated:
        click.echo(f"Generated an API token (kept in {settings.data_dir}/api_token):", err=True)
        click.echo(f"  {settings.api_token}", err=True)
    return settings


@contextlib.contextmanager
def _redis(settings: Settings, dev: bool = False) -> Iterator[Settings]:
    """Settings with a Redis URL: the configured one, or an embedded server.

    Other commands use the embedded server a running `dev` started. `dev` itself finds one
    running only when an earlier `dev` was killed before it could stop it: it takes that
    server over and stops it when it ends.
    """
    if settings.redis_url:
        yield settings
        return
    url = redis_server.running_embedded_url(settings.data_dir)
    if url and not dev:
        yield dataclasses.replace(settings, redis_url=url)
        return
    if url:
        click.echo(f"Taking over the embedded Redis an earlier run left running ({url}).")
        try:
            yield dataclasses.replace(settings, redis_url=url)
        finally:
            redis_server.shut_down(url)
        return
    url, process = redis_server.start_embedded(settings.data_dir)
    try:
        yield dataclasses.replace(settings, redis_url=url)
    finally:
        redis_server.stop(process)


@contextlib.contextmanager
def _only_dev(data_dir: Path) -> Iterator[None]:
    """One `paybridge dev` per data folder: a second would share, then lose, the first's Redis."""
    pid_file = data_dir / "dev.pid"
    try:
        other = int(pid_file.read_text())
    except (OSError, ValueError):
        other = None
    if other is not None and other != os.getpid() and _is_running(other):
        raise click.ClickException(
            f"paybridge dev is already running for {data_dir} (process {other}); stop it "
            "first, or give this one another folder: PAYBRIDGE_DATA_DIR=… make run PORT=…"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{os.getpid()}\n")
    try:
        yield
    finally:
        pid_file.unlink(missing_ok=True)


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP (a service manager, a closed terminal) stop the command as Ctrl-C
    does, so that whatever it started is stopped too."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a process started in the background inherits it ignored.
    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, interrupt) for sig in stops}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format=LOG_FORMAT)
    # HTTP clients log every URL at INFO, and HubSpot's token-info URL carries the token.
    for name in ("httpx", "httpx2", "httpcore", "authlib"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _wait_any(children: list[subprocess.Popen[bytes]]) -> None:
    while all(child.poll() is None for child in children):
        time.sleep(0.2)
    failed = [child for child in children if child.returncode]
    if failed:
        raise click.ClickException(f"a paybridge process exited with status {failed[0].returncode}")


def _stop_all(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


if __name__ == "__main__":
    main()
