"""Where webhooks may go (SSRF rules), at registration and again at delivery.

No packet goes to a non-loopback address here: refused IP literals are refused before any connection, names
resolve through the stub resolver (conftest `dns`), and the only deliveries made are to 127.0.0.1 receivers.
"""

from __future__ import annotations

import ipaddress

import pytest

from tests.lambda_client import call
from tests.outbound.conftest import emit, follow_once

BASE = "/api/v1/webhook-endpoints"

REFUSED_LITERALS = [
    ("https://10.0.0.1/hooks", "private"),
    ("https://172.16.5.4/hooks", "private"),
    ("https://192.168.1.1:8443/hooks", "private"),
    ("https://169.254.169.254/latest/meta-data/", "link-local"),
    ("https://100.64.0.1/hooks", "carrier-grade NAT (shared)"),
    ("https://224.0.0.1/hooks", "multicast"),
    ("https://240.0.0.1/hooks", "reserved"),
    ("https://255.255.255.255/hooks", "reserved"),
    ("https://0.0.0.0/hooks", "unspecified ('this network')"),
    ("https://192.0.2.10/hooks", "documentation"),
    ("https://[fc00::1]/hooks", "unique local (IPv6 ULA)"),
    ("https://[fd12:3456::1]/hooks", "unique local (IPv6 ULA)"),
    ("https://[fe80::1]/hooks", "link-local"),
    ("https://[ff02::1]/hooks", "multicast"),
    ("https://[::]/hooks", "unspecified"),
    ("https://[::ffff:10.0.0.1]/hooks", "private"),
    ("https://[::ffff:169.254.169.254]/hooks", "link-local"),
    ("https://[2002:a00:1::]/hooks", "private"),  # 6to4 around 10.0.0.1
    ("https://[64:ff9b::a9fe:a9fe]/hooks", "link-local"),  # NAT64 around 169.254.169.254
]


@pytest.mark.parametrize("url,reason", REFUSED_LITERALS)
def test_private_and_special_addresses_are_refused_at_registration(keys, url, reason):
    result = call("POST", BASE, key=keys["write"], body={"url": url})
    assert result.status == 400 and result.error_code == "WEBHOOK_URL_NOT_ALLOWED", result.body
    assert result.body["error"]["details"]["reason"] == reason
    assert result.body["error"]["details"]["field"] == "url"


@pytest.mark.parametrize("url", ["http://[::1]:8080/hooks", "http://127.0.0.1:8080/hooks", "https://127.0.0.2/h",
                                 "https://[::ffff:127.0.0.1]/hooks"])
def test_loopback_is_refused_unless_allowed(keys, loopback_refused, url):
    result = call("POST", BASE, key=keys["write"], body={"url": url})
    assert result.status == 400 and result.body["error"]["details"]["reason"] == "loopback", result.body


def test_a_name_resolving_to_a_private_address_is_refused(keys, dns):
    dns["hooks.example.test"] = ["8.8.8.8", "10.1.2.3"]  # one bad answer is enough
    result = call("POST", BASE, key=keys["write"], body={"url": "https://hooks.example.test/in"})
    assert result.status == 400, result.body
    assert result.body["error"]["details"] == {"field": "url", "reason": "private", "address": "10.1.2.3"}


def test_a_name_that_does_not_resolve_is_refused(keys):
    result = call("POST", BASE, key=keys["write"], body={"url": "https://nowhere.example.test/in"})
    assert result.status == 400 and result.body["error"]["details"]["reason"] == "unresolvable"


def test_https_is_required_except_to_allowed_loopback(keys, dns):
    dns["public.example.test"] = ["8.8.8.8"]
    result = call("POST", BASE, key=keys["write"], body={"url": "http://public.example.test/in"})
    assert result.status == 400 and result.body["error"]["details"]["reason"] == "scheme"
    dns["mixed.example.test"] = ["127.0.0.1", "8.8.8.8"]
    mixed = call("POST", BASE, key=keys["write"], body={"url": "http://mixed.example.test/in"})
    assert mixed.status == 400 and mixed.body["error"]["details"]["reason"] == "scheme"
    # Registering a public https name only checks it (nothing is sent); deleted at once all the same.
    ok = call("POST", BASE, key=keys["write"], body={"url": "https://public.example.test/in"})
    assert ok.status == 201, ok.body
    assert call("DELETE", f"{BASE}/{ok.data['id']}", key=keys["write"]).status == 200


@pytest.mark.parametrize("url,reason", [
    ("ftp://127.0.0.1/x", "scheme"), ("file:///etc/passwd", "scheme"), ("gopher://127.0.0.1:70/", "scheme"),
    ("https://user:pass@127.0.0.1/x", "credentials"), ("http://127.0.0.1/x#frag", "fragment"),
    ("https:///nohost", "malformed"), ("https://exa mple.test/", "malformed"),
    ("https://127.0.0.1:99999/", "malformed"),
    ("https://bad_host!.test/", "malformed"), ("not a url", "malformed"), ("//127.0.0.1/x", "scheme"),
    ("https://127.0.0.1/\u0000", "malformed"), ("https://" + "a" * 2100 + ".test/", "length"),
    ("https://[fe80::1%25eth0]/x", "link-local"),
])
def test_malformed_urls_are_400(keys, url, reason):
    result = call("POST", BASE, key=keys["write"], body={"url": url})
    assert 400 <= result.status < 500, result.body
    if result.error_code == "WEBHOOK_URL_NOT_ALLOWED":
        assert result.body["error"]["details"]["reason"] == reason


def test_refusal_table():
    from offerhub.outbound.urls import refusal

    allowed = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]
    for text in allowed:
        assert refusal(ipaddress.ip_address(text), allow_loopback=False) is None, text
    assert refusal(ipaddress.ip_address("127.0.0.1"), allow_loopback=True) is None
    assert refusal(ipaddress.ip_address("::1"), allow_loopback=True) is None
    assert refusal(ipaddress.ip_address("10.0.0.1"), allow_loopback=True) == "private"


def test_delivery_time_check_refuses_a_name_that_now_resolves_privately(keys, endpoint, receiver, dns, clock):
    """Registered while the name pointed at an allowed address; at delivery it resolves to 10.0.0.5: refused,
    counted as a failed attempt, nothing sent (no connection is even tried)."""
    from offerhub.core.context import RequestContext
    from offerhub.outbound.sender import Sender

    dns["rebind.example.test"] = ["127.0.0.1"]
    made = endpoint(receiver.url_for("rebind.example.test"), types=["user.created"])
    dns["rebind.example.test"] = ["10.0.0.5"]
    emit()
    follow_once(Sender(RequestContext(request_id="t"), clock=clock))
    assert receiver.requests == []
    [delivery] = call("GET", f"{BASE}/{made['id']}/deliveries", key=keys["read"]).data
    assert delivery["status"] == "PENDING" and delivery["attempts"] == 1 and delivery["lastStatusCode"] is None
    assert delivery["lastError"].startswith("refused: ") and "10.0.0.5" in delivery["lastError"]
    assert "private" in delivery["lastError"]

    # The name points back at the receiver: the retry is delivered, to the checked address, Host kept.
    dns["rebind.example.test"] = ["127.0.0.1"]
    clock.advance(hours=1)
    follow_once(Sender(RequestContext(request_id="t"), clock=clock))
    [received] = receiver.requests
    assert received.headers["host"] == f"rebind.example.test:{receiver.port}"
    [delivery] = call("GET", f"{BASE}/{made['id']}/deliveries", key=keys["read"]).data
    assert delivery["status"] == "SUCCEEDED" and delivery["attempts"] == 2


def test_pinned_connection_never_resolves_the_name_again(keys, endpoint, receiver, dns, clock, monkeypatch):
    """The check resolves once; the connection goes to that address. A second lookup (as an HTTP client doing
    its own resolution would make) would answer a private address, and is never made."""
    import socket

    from offerhub.core.context import RequestContext
    from offerhub.outbound import urls
    from offerhub.outbound.sender import Sender

    dns["pinned.example.test"] = ["127.0.0.1"]
    endpoint(receiver.url_for("pinned.example.test"), types=["user.created"])
    answers = iter([["127.0.0.1"]])
    monkeypatch.setattr(urls, "resolve_host", lambda host, port: next(answers))
    real_getaddrinfo = socket.getaddrinfo

    def never_the_name(host, *args, **kwargs):
        assert host != "pinned.example.test", "the HTTP client resolved the name itself"
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", never_the_name)
    emit()
    follow_once(Sender(RequestContext(request_id="t"), clock=clock))
    assert len(receiver.requests) == 1


def test_redirects_are_not_followed(keys, endpoint, receivers, clock):
    from offerhub.core.context import RequestContext
    from offerhub.outbound.sender import Sender

    target, elsewhere = receivers(), receivers()
    target.default = (302, {"location": elsewhere.url})
    made = endpoint(target.url, types=["user.created"])
    emit()
    follow_once(Sender(RequestContext(request_id="t"), clock=clock))
    assert len(target.requests) == 1 and elsewhere.requests == []
    [delivery] = call("GET", f"{BASE}/{made['id']}/deliveries", key=keys["read"]).data
    assert delivery["status"] == "PENDING" and delivery["lastStatusCode"] == 302
    assert "redirects are not followed" in delivery["lastError"]
