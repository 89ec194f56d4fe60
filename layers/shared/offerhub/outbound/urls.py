"""Where webhooks may be sent (the SSRF rules), checked when an endpoint is registered and again before every
attempt, because a name can resolve to another address later.

- `https` only. Plain `http` is allowed only to loopback receivers, and only where WEBHOOK_ALLOW_LOOPBACK is
  set (the local stack and the tests set it); loopback itself is refused unless that setting is on.
- The host is resolved and every address it resolves to must be public: private, loopback, link-local (the
  cloud metadata service), carrier-grade NAT, multicast, reserved, documentation, IPv6 unique-local and
  link-local addresses are refused, and so are IPv4 addresses hidden in IPv6 (mapped, 6to4, NAT64) that would be.
- An attempt then connects to the address that was checked (it is pinned): the request goes to that IP while
  the Host header and the TLS SNI (and so the certificate check) stay the name. The HTTP client never resolves
  the name itself, so a second, different answer cannot slip in between the check and the connection.
- No credentials in the URL, no fragment, nothing but printable ASCII after IDNA; redirects are never followed
  (offerhub.outbound.transport).

`resolve_host` is the one place names are resolved: tests replace it, so no test ever resolves a real name.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import unquote

import httpx

from offerhub.core.errors import ValidationFailed

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"https": 443, "http": 80}
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?$")

# Checked in order; the first that holds names the refusal. Whatever is left must also be `is_global`.
_V4_REFUSED = [(ipaddress.ip_network(net), why) for net, why in (
    ("0.0.0.0/8", "unspecified ('this network')"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT (shared)"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved (IETF protocol assignments)"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "reserved (6to4 relay)"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "reserved (benchmarking)"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
)]
_V6_REFUSED = [(ipaddress.ip_network(net), why) for net, why in (
    ("::/128", "unspecified"),
    ("100::/64", "reserved (discard)"),
    ("2001:db8::/32", "documentation"),
    ("2001::/23", "reserved (IETF protocol assignments)"),
    ("fc00::/7", "unique local (IPv6 ULA)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
)]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UrlRefused(ValidationFailed):
    """A URL the rules refuse: 400, `details.reason` says why (and `details.address` which address)."""

    code = "WEBHOOK_URL_NOT_ALLOWED"


@dataclass(frozen=True)
class ParsedUrl:
    url: str
    scheme: str
    host: str  # ASCII (IDNA), lowercase; an IPv6 literal without its brackets
    port: int
    target: str  # path and query, as sent

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


@dataclass(frozen=True)
class Target:
    """A checked URL and the one address an attempt connects to."""

    parsed: ParsedUrl
    address: str

    @property
    def request_url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.parsed.scheme}://{host}:{self.parsed.port}{self.parsed.target}"


def _refuse(message: str, reason: str, **details: str) -> UrlRefused:
    return UrlRefused(message, details={"field": "url", "reason": reason, **details})


def parse(url: str) -> ParsedUrl:
    if not url or len(url) > MAX_URL_LENGTH:
        raise _refuse(f"url must be 1-{MAX_URL_LENGTH} characters", "length")
    if any(not c.isprintable() or c.isspace() for c in url):
        raise _refuse("url must not contain spaces or control characters", "malformed")
    try:
        parsed = httpx.URL(url)
        port = parsed.port
        raw_host = parsed.raw_host.decode("ascii").lower()
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        raise _refuse(f"url is not a valid URL ({exc})", "malformed") from None
    scheme = parsed.scheme
    if scheme not in DEFAULT_PORTS:
        raise _refuse("url must be https", "scheme")
    if parsed.userinfo:
        raise _refuse("url must not carry credentials (receivers verify the OfferHub-Signature instead)",
                      "credentials")
    if parsed.fragment or "#" in url:
        raise _refuse("url must not have a fragment", "fragment")
    if not raw_host:
        raise _refuse("url has no host", "malformed")
    if port is not None and not 0 < port < 65536:
        raise _refuse("url has an invalid port", "malformed")
    host = unquote(raw_host)
    if _literal(host) is None and not _HOSTNAME.match(host):
        raise _refuse("url host is not a valid host name", "malformed")
    return ParsedUrl(url=url, scheme=scheme, host=host, port=port or DEFAULT_PORTS[scheme],
                     target=parsed.raw_path.decode("ascii"))


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve_host(host: str, port: int) -> list[str]:
    """Every address the name resolves to (the system resolver). Raises OSError when it does not resolve."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refusal(address: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why webhooks may not go to this address (None: they may)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (
            ipaddress.IPv4Address(address.packed[-4:]) if address in _NAT64 else None)
        if embedded is not None:
            return refusal(embedded, allow_loopback=allow_loopback)
        if address.scope_id:
            return "link-local"
    if address.is_loopback:
        return None if allow_loopback else "loopback"
    for network, why in _V4_REFUSED if address.version == 4 else _V6_REFUSED:
        if address in network:
            return why
    if address.is_multicast:
        return "multicast"
    if not address.is_global:
        return "not globally routable"
    return None


def check(url: str, *, allow_loopback: bool) -> Target:
    """Parse, resolve, check every address; the first address is the one to connect to."""
    parsed = parse(url)
    literal = _literal(parsed.host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            answers = resolve_host(parsed.host, parsed.port)
        except (OSError, UnicodeError) as exc:
            raise _refuse(f"url host {parsed.host} does not resolve ({type(exc).__name__})", "unresolvable") from None
        addresses = [a for a in (_literal(answer) for answer in answers) if a is not None]
        if not addresses:
            raise _refuse(f"url host {parsed.host} does not resolve", "unresolvable")
    for address in addresses:
        why = refusal(address, allow_loopback=allow_loopback)
        if why is not None:
            raise _refuse(f"url host {parsed.host} is {address}, a {why} address: webhooks are sent only to public "
                          "addresses", why, address=str(address))
    if parsed.scheme == "http" and not (allow_loopback and all(a.is_loopback or (
            isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped is not None and a.ipv4_mapped.is_loopback)
            for a in addresses)):
        raise _refuse("url must be https (plain http only to loopback receivers, where allowed)", "scheme")
    return Target(parsed=parsed, address=str(addresses[0]))
