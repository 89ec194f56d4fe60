"""Webhook signatures: Svix (Airtm) and hex HMAC (Trustless Work style), cross-checked with the svix library."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from datetime import UTC, datetime

import pytest
from svix.webhooks import Webhook, WebhookVerificationError

from offerhub.core.errors import Unauthorized
from offerhub.webhooks.verify import (
    SignatureInvalid,
    sign_hex_hmac,
    sign_svix,
    verify_hex_hmac,
    verify_svix,
)

SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"z" * 24).decode()
NOW = 1_764_000_000
BODY = b'{"type":"payin.confirmed","data":{"id":"4f0c","amount":100.00,"note":"caf\xc3\xa9"}}'
MSG_ID = "msg_2Lh9sKzqM1x"


def svix_headers(secret: str = SECRET, *, body: bytes = BODY, msg_id: str = MSG_ID, ts: int = NOW) -> dict[str, str]:
    return {"svix-id": msg_id, "svix-timestamp": str(ts), "svix-signature": sign_svix(secret, msg_id, ts, body)}


def reason_of(exc: pytest.ExceptionInfo[SignatureInvalid]) -> str:
    return exc.value.details["reason"]


def test_valid_signature_returns_the_svix_id():
    assert verify_svix(SECRET, svix_headers(), BODY, now=NOW) == MSG_ID


def test_error_is_a_401_with_its_own_code_and_no_secret_in_details():
    with pytest.raises(SignatureInvalid) as exc:
        verify_svix(SECRET, svix_headers(OTHER_SECRET), BODY, now=NOW)
    assert isinstance(exc.value, Unauthorized)
    assert (exc.value.status, exc.value.code) == (401, "WEBHOOK_SIGNATURE_INVALID")
    assert exc.value.details == {"provider": "AIRTM", "reason": "no matching v1 signature"}
    expected = sign_svix(SECRET, MSG_ID, NOW, BODY)
    rendered = repr(exc.value.details) + str(exc.value)
    assert SECRET[6:] not in rendered and expected[3:] not in rendered


def test_bare_base64_and_unpadded_secrets_are_the_same_key():
    bare = SECRET.removeprefix("whsec_")
    assert verify_svix(bare, svix_headers(), BODY, now=NOW) == MSG_ID
    unpadded = "whsec_" + base64.b64encode(b"k" * 25).decode().rstrip("=")
    assert verify_svix(unpadded, svix_headers("whsec_" + base64.b64encode(b"k" * 25).decode()), BODY, now=NOW)


def test_rotation_any_v1_entry_may_match():
    headers = svix_headers()
    old = sign_svix(OTHER_SECRET, MSG_ID, NOW, BODY)
    headers["svix-signature"] = f"{old} {headers['svix-signature']}"
    assert verify_svix(SECRET, headers, BODY, now=NOW) == MSG_ID
    with pytest.raises(SignatureInvalid):
        verify_svix(base64.b64encode(b"q" * 24).decode(), headers, BODY, now=NOW)


def test_other_versions_are_ignored():
    headers = svix_headers()
    good = headers["svix-signature"].removeprefix("v1,")
    headers["svix-signature"] = f"v1a,{good}"
    with pytest.raises(SignatureInvalid):
        verify_svix(SECRET, headers, BODY, now=NOW)
    headers["svix-signature"] = f"v1a,{good} v2,xyz v1,{good}"
    assert verify_svix(SECRET, headers, BODY, now=NOW) == MSG_ID


@pytest.mark.parametrize("tampered", [BODY + b" ", BODY.replace(b"100.00", b"900.00"), b"", BODY[:-1]])
def test_tampered_body_is_refused(tampered):
    with pytest.raises(SignatureInvalid) as exc:
        verify_svix(SECRET, svix_headers(), tampered, now=NOW)
    assert reason_of(exc) == "no matching v1 signature"


@pytest.mark.parametrize("field,value", [("svix-id", "msg_other"), ("svix-timestamp", str(NOW + 1))])
def test_id_and_timestamp_are_signed(field, value):
    headers = svix_headers()
    headers[field] = value
    with pytest.raises(SignatureInvalid):
        verify_svix(SECRET, headers, BODY, now=NOW)


def test_wrong_secret_is_refused():
    with pytest.raises(SignatureInvalid):
        verify_svix(OTHER_SECRET, svix_headers(), BODY, now=NOW)


def test_timestamp_tolerance_both_ways():
    headers = svix_headers()
    assert verify_svix(SECRET, headers, BODY, now=NOW + 300) == MSG_ID
    assert verify_svix(SECRET, headers, BODY, now=NOW - 300) == MSG_ID
    with pytest.raises(SignatureInvalid) as stale:
        verify_svix(SECRET, headers, BODY, now=NOW + 301)
    assert reason_of(stale) == "timestamp too old"
    with pytest.raises(SignatureInvalid) as future:
        verify_svix(SECRET, headers, BODY, now=NOW - 301)
    assert reason_of(future) == "timestamp too new"
    assert verify_svix(SECRET, headers, BODY, now=NOW + 3000, tolerance_seconds=3600) == MSG_ID


def test_default_clock_is_now():
    import time

    ts = int(time.time())
    assert verify_svix(SECRET, svix_headers(ts=ts), BODY) == MSG_ID
    with pytest.raises(SignatureInvalid):
        verify_svix(SECRET, svix_headers(ts=ts - 3600), BODY)


@pytest.mark.parametrize("missing", ["svix-id", "svix-timestamp", "svix-signature"])
def test_missing_or_empty_headers(missing):
    headers = svix_headers()
    del headers[missing]
    with pytest.raises(SignatureInvalid) as exc:
        verify_svix(SECRET, headers, BODY, now=NOW)
    assert reason_of(exc) == f"missing {missing} header"
    headers[missing] = "  "
    with pytest.raises(SignatureInvalid):
        verify_svix(SECRET, headers, BODY, now=NOW)


def test_header_names_in_other_cases_are_folded():
    headers = {name.title(): value for name, value in svix_headers().items()}
    assert verify_svix(SECRET, headers, BODY, now=NOW) == MSG_ID


@pytest.mark.parametrize("ts", ["1764000000.5", "abc", "-1764000000", "+1764000000", "1_764_000_000", "１７６４",
                                "1e9", "9" * 40])
def test_non_integer_timestamps(ts):
    headers = svix_headers()
    headers["svix-timestamp"] = ts
    with pytest.raises(SignatureInvalid) as exc:
        verify_svix(SECRET, headers, BODY, now=NOW)
    assert "integer" in reason_of(exc)


@pytest.mark.parametrize(
    "signature",
    ["v1", "v1,", ",", "v1,not base64!", "v1,@@@@", "v1,YQ", "v1,é", "garbage", "v1,,", "v1 ,abc",
     "v1,aGVsbG8=,extra", "\x00", "v1," + base64.b64encode(b"x" * 32).decode(), "v1," + "A" * 10_000],
)
def test_malformed_signature_entries_are_401_not_crashes(signature):
    headers = svix_headers()
    headers["svix-signature"] = signature
    with pytest.raises(SignatureInvalid):
        verify_svix(SECRET, headers, BODY, now=NOW)
    # A malformed entry next to a good one does not stop the good one from matching.
    headers["svix-signature"] = f"{signature.replace(' ', '')} {sign_svix(SECRET, MSG_ID, NOW, BODY)}"
    assert verify_svix(SECRET, headers, BODY, now=NOW) == MSG_ID


@pytest.mark.parametrize("secret", ["", "whsec_", "whsec_not*base64", "whsec_a"])
def test_unusable_secret_is_a_configuration_error(secret):
    with pytest.raises(ValueError):
        verify_svix(secret, svix_headers(), BODY, now=NOW)


def test_non_utf8_body_is_signed_as_bytes():
    body = os.urandom(64) + b"\xff\xfe"
    assert verify_svix(SECRET, svix_headers(body=body), body, now=NOW) == MSG_ID


# --- the official svix library agrees ---------------------------------------------------------------------


def test_svix_library_signature_is_accepted():
    when = datetime.fromtimestamp(NOW, tz=UTC)
    signature = Webhook(SECRET).sign(MSG_ID, when, BODY.decode())
    assert signature == sign_svix(SECRET, MSG_ID, NOW, BODY)
    headers = {"svix-id": MSG_ID, "svix-timestamp": str(NOW), "svix-signature": signature}
    assert verify_svix(SECRET, headers, BODY, now=NOW) == MSG_ID


def test_our_signature_is_accepted_by_the_svix_library():
    import time

    ts = int(time.time())  # the library checks against its own clock
    headers = svix_headers(ts=ts)
    assert Webhook(SECRET).verify(BODY, headers) is None  # 2.x returns None on success
    rotated = dict(headers, **{"svix-signature": f"{sign_svix(OTHER_SECRET, MSG_ID, ts, BODY)} "
                                                 f"{headers['svix-signature']}"})
    Webhook(SECRET).verify(BODY, rotated)
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER_SECRET.replace("z", "y")).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY + b"x", headers)


# --- hex HMAC (Trustless Work style) ---------------------------------------------------------------------

HEX_SECRET = "tw_whsec_s3cr3t-ü"


def test_hex_hmac_matches_the_standard_construction():
    expected = hmac.new(HEX_SECRET.encode("utf-8"), BODY, hashlib.sha256).hexdigest()
    assert sign_hex_hmac(HEX_SECRET, BODY) == expected
    verify_hex_hmac(HEX_SECRET, expected, BODY)
    verify_hex_hmac(HEX_SECRET, expected.upper(), BODY)
    verify_hex_hmac(HEX_SECRET, f" {expected}\t", BODY)


@pytest.mark.parametrize("signature", [None, "", "   "])
def test_hex_hmac_is_mandatory(signature):
    with pytest.raises(SignatureInvalid) as exc:
        verify_hex_hmac(HEX_SECRET, signature, BODY)
    assert exc.value.details == {"provider": "TRUSTLESS_WORK", "reason": "missing x-tw-signature header"}
    assert exc.value.status == 401


def test_hex_hmac_refuses_tampering_and_other_secrets():
    good = sign_hex_hmac(HEX_SECRET, BODY)
    with pytest.raises(SignatureInvalid) as exc:
        verify_hex_hmac(HEX_SECRET, good, BODY + b" ")
    assert exc.value.details["reason"] == "signature does not match"
    assert good not in repr(exc.value.details)
    with pytest.raises(SignatureInvalid):
        verify_hex_hmac("another", good, BODY)


@pytest.mark.parametrize(
    "signature",
    ["zz" * 32, "ab", "ab" * 33, "é" * 64, "sha256=" + "ab" * 32, "\x00" * 64, "０" * 64,
     base64.b64encode(b"x" * 32).decode()],
)
def test_hex_hmac_malformed_is_401(signature):
    with pytest.raises(SignatureInvalid) as exc:
        verify_hex_hmac(HEX_SECRET, signature, BODY)
    assert exc.value.details["provider"] == "TRUSTLESS_WORK"


def test_hex_hmac_empty_secret_is_a_configuration_error():
    with pytest.raises(ValueError):
        verify_hex_hmac("", sign_hex_hmac("x", BODY), BODY)
