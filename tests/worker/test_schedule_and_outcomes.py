"""The retry schedule and the reading of HubSpot's answers, without a network."""

from __future__ import annotations

import json

import httpx

from engine.settings import DEFAULT_RETRY_SCHEDULE_S
from worker import outcomes
from worker.schedule import JITTER, next_delay_s


def test_the_default_schedule_is_close_to_dodo_s_and_about_a_day():
    total_s = sum(DEFAULT_RETRY_SCHEDULE_S)
    assert len(DEFAULT_RETRY_SCHEDULE_S) == 7
    assert 24 * 3600 <= total_s <= 30 * 3600


def test_delays_follow_the_schedule_with_jitter_then_give_up():
    schedule = (5.0, 300.0)
    for _ in range(200):
        first = next_delay_s(schedule, 1)
        second = next_delay_s(schedule, 2)
        assert first is not None and 5 * (1 - JITTER) <= first <= 5 * (1 + JITTER)
        assert second is not None and 300 * (1 - JITTER) <= second <= 300 * (1 + JITTER)
    assert next_delay_s(schedule, 3) is None


def _response(status: int, body: dict, headers: dict | None = None) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers or {})


def test_retry_after_wins_over_the_policy_default():
    body = {"status": "error", "policyName": "TEN_SECONDLY_ROLLING", "message": "m"}
    outcome = outcomes.classify(_response(429, body, {"Retry-After": "3"}))
    assert (outcome.kind, outcome.wait_s) == (outcomes.WAIT, 3.0)


def test_ten_secondly_429_without_retry_after_uses_the_interval_header():
    body = {"status": "error", "policyName": "TEN_SECONDLY_ROLLING", "message": "m"}
    headers = {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
    assert outcomes.classify(_response(429, body, headers)).wait_s == 10.0


def test_daily_429_waits_until_midnight_utc():
    outcome = outcomes.classify(_response(429, {"policyName": "DAILY", "message": "daily"}))
    assert outcome.kind == outcomes.WAIT
    assert 0 < outcome.wait_s <= 24 * 3600


def test_validation_errors_name_each_property():
    message = (
        'Property values were not valid: [{"isValid":false,"message":"Property \\"x\\" does not '
        'exist","error":"PROPERTY_DOESNT_EXIST","name":"x"}]'
    )
    body = {"status": "error", "message": message, "category": "VALIDATION_ERROR"}
    outcome = outcomes.classify(_response(400, body))
    assert outcome.kind == outcomes.FAIL
    assert "property 'x'" in outcome.reason
    assert "PROPERTY_DOESNT_EXIST" in outcome.reason


def test_409_existing_id_is_read_from_the_message():
    body = {"message": "Contact already exists. Existing ID: 37765128953", "category": "CONFLICT"}
    assert outcomes.existing_id(body) == "37765128953"
    assert outcomes.classify(_response(409, body)).kind == outcomes.FAIL


def test_missing_scopes_are_listed_and_park_the_integration():
    body = {
        "category": "MISSING_SCOPES",
        "message": "This app hasn't been granted all required scopes to make this call.",
        "errors": [{"context": {"requiredScopes": ["crm.objects.deals.write"]}}],
    }
    outcome = outcomes.classify(_response(403, body))
    assert outcome.kind == outcomes.PARK
    assert "crm.objects.deals.write" in outcome.reason


def test_a_non_json_5xx_body_is_kept_as_text():
    response = httpx.Response(502, content=b"<html>Bad gateway</html>")
    outcome = outcomes.classify(response)
    assert outcome.kind == outcomes.RETRY
    assert "Bad gateway" in outcome.reason


def test_a_request_that_cannot_be_put_on_the_wire_fails_and_network_errors_retry():
    local = outcomes.network_error(httpx.LocalProtocolError("illegal header"))
    dropped = outcomes.network_error(httpx.RemoteProtocolError("server disconnected"))
    timed_out = outcomes.network_error(httpx.ReadTimeout("read timed out"))

    assert local.kind == outcomes.FAIL
    assert "could not be sent" in (local.reason or "")
    assert dropped.kind == outcomes.RETRY
    assert timed_out.kind == outcomes.RETRY
    assert "timed out" in (timed_out.reason or "")
