"""Settings: read once, cast, defaulted; bad values named."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.settings import SettingsError, load_settings
from sandbox import HandlerCompileError, compile_handler

KEYS = {"PAYBRIDGE_SECRET_KEY": "k" * 40, "PAYBRIDGE_API_TOKEN": "t" * 32}


def test_every_sandbox_limit_is_a_setting(tmp_path: Path):
    settings = load_settings(
        {
            **KEYS,
            "PAYBRIDGE_DATA_DIR": str(tmp_path),
            "PAYBRIDGE_SANDBOX_TIMEOUT_MS": "250",
            "PAYBRIDGE_SANDBOX_MEMORY_MB": "64",
            "PAYBRIDGE_SANDBOX_CODE_BYTES": "100",
            "PAYBRIDGE_SANDBOX_BODY_BYTES": "2048",
            "PAYBRIDGE_SANDBOX_OUTPUT_BYTES": "512",
        }
    )
    limits = settings.sandbox_limits

    assert (limits.timeout_ms, limits.memory_mb) == (250, 64)
    assert (limits.code_bytes, limits.body_bytes, limits.output_bytes) == (100, 2048, 512)
    with pytest.raises(HandlerCompileError, match="the limit is 100"):
        compile_handler("def handler(webhook):\n    return webhook\n" + "#" * 100, limits)


def test_a_bad_value_names_its_variable(tmp_path: Path):
    with pytest.raises(SettingsError, match="PAYBRIDGE_WORKER_NICE must be 0 to 19"):
        load_settings({**KEYS, "PAYBRIDGE_DATA_DIR": str(tmp_path), "PAYBRIDGE_WORKER_NICE": "40"})
    with pytest.raises(SettingsError, match="PAYBRIDGE_SANDBOX_CODE_BYTES='lots'"):
        load_settings(
            {**KEYS, "PAYBRIDGE_DATA_DIR": str(tmp_path), "PAYBRIDGE_SANDBOX_CODE_BYTES": "lots"}
        )


def test_a_local_run_needs_no_secrets(tmp_path: Path):
    settings = load_settings({"PAYBRIDGE_DATA_DIR": str(tmp_path)}, with_secrets=False)

    assert settings.api_token == ""
    assert list(tmp_path.iterdir()) == []
