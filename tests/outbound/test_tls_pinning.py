"""https to a pinned address: the connection goes to the checked IP (here 127.0.0.1), while the TLS SNI, the
certificate check and the Host header are the URL's name. A receiver with a certificate for that name only is
reached; one whose certificate does not name it, or that no trusted CA signed, is a failed attempt."""

from __future__ import annotations

import datetime as dt
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from offerhub.core.context import RequestContext
from offerhub.outbound.sender import Sender
from tests.lambda_client import call
from tests.outbound.conftest import emit, follow_once

NAME = "hooks.example.test"


def _certificates(tmp: Path, names: list[str]) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate for `names` signed by it: (ca.pem, cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def build(subject: str, key: Any, issuer: str, signer: Any, ca: bool) -> x509.Certificate:
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                decipher_only=False), critical=True)
        else:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                                            critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = build("offerhub test CA", ca_key, "offerhub test CA", ca_key, True)
    cert = build(names[0], key, "offerhub test CA", ca_key, False)
    paths = tmp / "ca.pem", tmp / "cert.pem", tmp / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


class TlsReceiver:
    def __init__(self, cert: Path, key: Path):
        self.sni: list[str | None] = []
        self.hosts: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.hosts.append(self.headers["host"])
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dns: dict[str, list[str]]) -> Iterator[Any]:
    from offerhub.outbound import transport

    def make(names: list[str], *, trusted: bool = True) -> TlsReceiver:
        folder = tmp_path / "-".join(names)
        folder.mkdir()
        ca, cert, key = _certificates(folder, names)
        if trusted:
            monkeypatch.setattr(transport, "VERIFY", ssl.create_default_context(cafile=str(ca)))
        transport.close_clients()
        receiver = TlsReceiver(cert, key)
        made.append(receiver)
        return receiver

    made: list[TlsReceiver] = []
    dns[NAME] = ["127.0.0.1"]
    yield make
    for receiver in made:
        receiver.close()
    transport.close_clients()


def _deliver(endpoint: Any, keys: dict[str, str], url: str) -> dict[str, Any]:
    made = endpoint(url, types=["user.created"])
    emit()
    follow_once(Sender(RequestContext(request_id="tls-test")))
    [delivery] = call("GET", f"/api/v1/webhook-endpoints/{made['id']}/deliveries", key=keys["read"]).data
    return delivery


def test_https_to_the_pinned_address_uses_the_name_for_sni_the_certificate_and_host(tls, endpoint, keys):
    receiver = tls([NAME])
    delivery = _deliver(endpoint, keys, f"https://{NAME}:{receiver.port}/hooks")
    assert delivery["status"] == "SUCCEEDED", delivery
    assert receiver.sni == [NAME] and receiver.hosts == [f"{NAME}:{receiver.port}"]


def test_a_certificate_for_another_name_is_a_failed_attempt(tls, endpoint, keys):
    receiver = tls(["other.example.test"])
    delivery = _deliver(endpoint, keys, f"https://{NAME}:{receiver.port}/hooks")
    assert delivery["status"] == "PENDING" and "CERTIFICATE_VERIFY_FAILED" in delivery["lastError"], delivery
    assert receiver.sni == [NAME] and receiver.hosts == []


def test_an_untrusted_certificate_is_a_failed_attempt(tls, endpoint, keys):
    receiver = tls([NAME], trusted=False)
    delivery = _deliver(endpoint, keys, f"https://{NAME}:{receiver.port}/hooks")
    assert delivery["status"] == "PENDING" and "CERTIFICATE_VERIFY_FAILED" in delivery["lastError"], delivery
    assert receiver.hosts == []
