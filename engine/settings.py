"""paybridge's settings: read once at start from the environment (and `.env`), cast, defaulted.

Every default is a named constant with its unit. Secrets are masked in `repr`.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from pathlib import Path

from dotenv import load_dotenv

import sandbox

DEFAULT_DATA_DIR = ".paybridge"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
HUBSPOT_API_BASE = "https://api.hubapi.com"
HUBSPOT_API_HOST = "api.hubapi.com"
DEFAULT_HUBSPOT_AUTHORIZE_URL = "https://app.hubspot.com/oauth/authorize"
DEFAULT_ALLOWED_HOSTS = (HUBSPOT_API_HOST,)
# Close to Dodo's own webhook retries (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: about 27.5 h
# in all, ../shared/reference/dodo-webhooks.md section 4), with jitter added on top.
DEFAULT_RETRY_SCHEDULE_S = (5, 300, 1800, 7200, 18000, 36000, 36000)
DEFAULT_HUBSPOT_RATE_LIMIT = "100/10s"
DEFAULT_SANDBOX_TIMEOUT_MS = 1000
DEFAULT_SANDBOX_MEMORY_MB = 128
DEFAULT_SANDBOX_CODE_BYTES = sandbox.Limits.code_bytes
DEFAULT_SANDBOX_BODY_BYTES = sandbox.Limits.body_bytes
DEFAULT_SANDBOX_OUTPUT_BYTES = sandbox.Limits.output_bytes
DEFAULT_RETENTION_DAYS = 30
DEFAULT_HTTP_TIMEOUT_S = 10.0
DEFAULT_LEASE_S = 60
DEFAULT_SWEEP_INTERVAL_S = 1.0
DEFAULT_DUE_GRACE_S = 30
DEFAULT_MAX_EVENT_BYTES = 1024 * 1024
DEFAULT_LOG_LEVEL = "INFO"  # one line per delivery attempt
# Workers (and their sandbox processes) yield the CPU to the web process: accepting Dodo's
# events quickly matters more than delivering them a moment sooner. 0 to 19, as for nice(1).
DEFAULT_WORKER_NICE = 10
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
PREFIX = "PAYBRIDGE_"


class SettingsError(ValueError):
    """A setting has a value paybridge cannot use; the message names the variable."""


@dataclasses.dataclass(frozen=True)
class Settings:
    data_dir: Path
    redis_url: str | None
    secret_key: str = dataclasses.field(repr=False)
    api_token: str = dataclasses.field(repr=False)
    public_url: str = DEFAULT_PUBLIC_URL
    hubspot_api_base: str = HUBSPOT_API_BASE
    hubspot_client_id: str | None = None
    hubspot_client_secret: str | None = dataclasses.field(default=None, repr=False)
    hubspot_authorize_url: str = DEFAULT_HUBSPOT_AUTHORIZE_URL
    allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS
    retry_schedule_s: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE_S
    hubspot_rate_limit: str = DEFAULT_HUBSPOT_RATE_LIMIT
    sandbox_timeout_ms: int = DEFAULT_SANDBOX_TIMEOUT_MS
    sandbox_memory_mb: int = DEFAULT_SANDBOX_MEMORY_MB
    sandbox_code_bytes: int = DEFAULT_SANDBOX_CODE_BYTES
    sandbox_body_bytes: int = DEFAULT_SANDBOX_BODY_BYTES
    sandbox_output_bytes: int = DEFAULT_SANDBOX_OUTPUT_BYTES
    retention_days: int = DEFAULT_RETENTION_DAYS
    http_timeout_s: float = DEFAULT_HTTP_TIMEOUT_S
    lease_s: int = DEFAULT_LEASE_S
    sweep_interval_s: float = DEFAULT_SWEEP_INTERVAL_S
    due_grace_s: float = DEFAULT_DUE_GRACE_S
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    log_level: str = DEFAULT_LOG_LEVEL
    worker_nice: int = DEFAULT_WORKER_NICE
    generated: tuple[str, ...] = ()

    @property
    def sandbox_limits(self) -> sandbox.Limits:
        return sandbox.Limits(
            timeout_ms=self.sandbox_timeout_ms,
            memory_mb=self.sandbox_memory_mb,
            code_bytes=self.sandbox_code_bytes,
            body_bytes=self.sandbox_body_bytes,
            output_bytes=self.sandbox_output_bytes,
        )

    @property
    def rate_limit(self) -> tuple[int, float]:
        return parse_rate_limit(self.hubspot_rate_limit, f"{PREFIX}HUBSPOT_RATE_LIMIT")


def load_settings(environ: dict[str, str] | None = None, with_secrets: bool = True) -> Settings:
    """Read the settings. Without `environ`, reads `.env` (if any) and the process environment.

    `with_secrets=False` is for commands that need neither Redis nor the API (a local handler
    run): the secret key and API token are then not generated when they are missing.
    """
    if environ is None:
        load_dotenv(".env", override=False)
        environ = dict(os.environ)
    env = {key[len(PREFIX) :]: value for key, value in environ.items() if key.startswith(PREFIX)}

    data_dir = Path(env.get("DATA_DIR", DEFAULT_DATA_DIR)).resolve()
    generated: list[str] = []
    secret_key = env.get("SECRET_KEY", "")
    api_token = env.get("API_TOKEN", "")
    if with_secrets:
        secret_key = secret_key or _kept_secret(data_dir, "secret_key", generated)
        api_token = api_token or _kept_secret(data_dir, "api_token", generated)

    settings = Settings(
        data_dir=data_dir,
        redis_url=env.get("REDIS_URL") or None,
        secret_key=secret_key,
        api_token=api_token,
        public_url=env.get("PUBLIC_URL", DEFAULT_PUBLIC_URL).rstrip("/"),
        hubspot_api_base=env.get("HUBSPOT_API_BASE", HUBSPOT_API_BASE).rstrip("/"),
        hubspot_client_id=env.get("HUBSPOT_CLIENT_ID") or None,
        hubspot_client_secret=env.get("HUBSPOT_CLIENT_SECRET") or None,
        hubspot_authorize_url=env.get("HUBSPOT_AUTHORIZE_URL", DEFAULT_HUBSPOT_AUTHORIZE_URL),
        allowed_hosts=_hosts(env.get("ALLOWED_HOSTS")),
        retry_schedule_s=_schedule(env.get("RETRY_SCHEDULE_S")),
        hubspot_rate_limit=env.get("HUBSPOT_RATE_LIMIT", DEFAULT_HUBSPOT_RATE_LIMIT),
        sandbox_timeout_ms=_int(env, "SANDBOX_TIMEOUT_MS", DEFAULT_SANDBOX_TIMEOUT_MS),
        sandbox_memory_mb=_int(env, "SANDBOX_MEMORY_MB", DEFAULT_SANDBOX_MEMORY_MB),
        sandbox_code_bytes=_int(env, "SANDBOX_CODE_BYTES", DEFAULT_SANDBOX_CODE_BYTES),
        sandbox_body_bytes=_int(env, "SANDBOX_BODY_BYTES", DEFAULT_SANDBOX_BODY_BYTES),
        sandbox_output_bytes=_int(env, "SANDBOX_OUTPUT_BYTES", DEFAULT_SANDBOX_OUTPUT_BYTES),
        retention_days=_int(env, "RETENTION_DAYS", DEFAULT_RETENTION_DAYS),
        http_timeout_s=_float(env, "HTTP_TIMEOUT_S", DEFAULT_HTTP_TIMEOUT_S),
        lease_s=_int(env, "LEASE_S", DEFAULT_LEASE_S),
        sweep_interval_s=_float(env, "SWEEP_INTERVAL_S", DEFAULT_SWEEP_INTERVAL_S),
        due_grace_s=_float(env, "DUE_GRACE_S", DEFAULT_DUE_GRACE_S),
        max_event_bytes=_int(env, "MAX_EVENT_BYTES", DEFAULT_MAX_EVENT_BYTES),
        log_level=_log_level(env.get("LOG_LEVEL")),
        worker_nice=_int(env, "WORKER_NICE", DEFAULT_WORKER_NICE),
        generated=tuple(generated),
    )
    settings.rate_limit  # noqa: B018 - validates the value now, not at the first delivery
    if not 0 <= settings.worker_nice <= 19:
        raise SettingsError(f"{PREFIX}WORKER_NICE must be 0 to 19, not {settings.worker_nice}")
    return settings


def parse_rate_limit(value: str, name: str) -> tuple[int, float]:
    """`"100/10s"` → (100, 10.0): requests per window in seconds."""
    try:
        count, window = value.split("/")
        window_s = float(window.removesuffix("s") or 1)
        limit = int(count)
    except ValueError:
        raise SettingsError(
            f"{name}={value!r}: write it as requests/seconds, e.g. 100/10s"
        ) from None
    if limit <= 0 or window_s <= 0:
        raise SettingsError(f"{name}={value!r}: both numbers must be positive")
    return limit, window_s


def _kept_secret(data_dir: Path, name: str, generated: list[str]) -> str:
    path = data_dir / name
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    generated.append(name)
    return value


def _hosts(value: str | None) -> tuple[str, ...]:
    if not value:
        return DEFAULT_ALLOWED_HOSTS
    return tuple(host.strip().lower() for host in value.split(",") if host.strip())


def _schedule(value: str | None) -> tuple[float, ...]:
    if not value:
        return DEFAULT_RETRY_SCHEDULE_S
    try:
        delays = tuple(float(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise SettingsError(
            f"{PREFIX}RETRY_SCHEDULE_S={value!r}: give seconds, comma-separated, e.g. 5,300,1800"
        ) from None
    if not delays or any(delay < 0 for delay in delays):
        raise SettingsError(f"{PREFIX}RETRY_SCHEDULE_S={value!r}: give at least one delay >= 0")
    return delays


def _log_level(value: str | None) -> str:
    level = (value or DEFAULT_LOG_LEVEL).upper()
    if level not in LOG_LEVELS:
        raise SettingsError(f"{PREFIX}LOG_LEVEL={value!r}: use one of {', '.join(LOG_LEVELS)}")
    return level


def _int(env: dict[str, str], key: str, default: int) -> int:
    try:
        return int(env.get(key, default))
    except ValueError:
        raise SettingsError(f"{PREFIX}{key}={env[key]!r} is not a whole number") from None


def _float(env: dict[str, str], key: str, default: float) -> float:
    try:
        return float(env.get(key, default))
    except ValueError:
        raise SettingsError(f"{PREFIX}{key}={env[key]!r} is not a number") from None
