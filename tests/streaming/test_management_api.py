"""The Management API adapter: 410 is a departure, 429 and 5xx are retried with short backoff, other refusals
are the frame's own fault. botocore's Stubber plays API Gateway (moto never refuses a frame)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from offerhub.streaming.management import ConnectionGone, FrameRefused, ManagementApi, PushFailed
from tests.streaming.helpers import MANAGEMENT_URL


def _api(*errors: tuple[str, int], then_ok: bool = True, operation: str = "post_to_connection"):
    client = boto3.client("apigatewaymanagementapi", endpoint_url=MANAGEMENT_URL)
    stubber = Stubber(client)
    for code, status in errors:
        stubber.add_client_error(operation, service_error_code=code, http_status_code=status)
    if then_ok:
        stubber.add_response(operation, {})
    stubber.activate()
    slept: list[float] = []
    return ManagementApi(client=client, sleep=slept.append), stubber, slept


def test_a_throttled_post_is_retried_with_growing_short_backoff():
    api, stubber, slept = _api(("LimitExceededException", 429), ("LimitExceededException", 429),
                               ("InternalServerError", 500))
    api.post("abc=", b"{}")
    stubber.assert_no_pending_responses()
    assert len(slept) == 3 and api.retries == 3
    assert slept[0] < slept[2] and sum(slept) < 1.0


def test_throttled_past_the_attempts_is_a_push_failure():
    api, stubber, slept = _api(*[("LimitExceededException", 429)] * 5, then_ok=False)
    with pytest.raises(PushFailed):
        api.post("abc=", b"{}")
    stubber.assert_no_pending_responses()
    assert len(slept) == 4  # five attempts, four pauses


def test_gone_is_a_departure_at_once():
    api, _, slept = _api(("GoneException", 410), then_ok=False)
    with pytest.raises(ConnectionGone):
        api.post("abc=", b"{}")
    assert slept == []


def test_a_refused_frame_is_not_retried():
    api, _, slept = _api(("PayloadTooLargeException", 413), then_ok=False)
    with pytest.raises(FrameRefused):
        api.post("abc=", b"{}")
    assert slept == []


def test_closing_a_connection_that_is_already_gone_is_fine():
    api, stubber, _ = _api(("GoneException", 410), then_ok=False, operation="delete_connection")
    api.close("abc=")
    stubber.assert_no_pending_responses()


def test_an_unreachable_endpoint_is_retried_then_a_push_failure():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    slept: list[float] = []
    api = ManagementApi(f"http://127.0.0.1:{port}", sleep=slept.append)
    with pytest.raises(PushFailed):
        api.post("abc=", b"{}")
    assert len(slept) == 1  # a network failure is tried once more only (throttling: four more times)
