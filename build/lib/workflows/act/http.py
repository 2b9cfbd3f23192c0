"""Outbound HTTP for webhooks, safe against server-side request forgery.

Every destination is resolved first and refused when any of its addresses is loopback,
private, link-local, multicast, reserved or unspecified, unless it falls in
``REVIEWAPP_WEBHOOK_ALLOWED_NETWORKS``. An IPv6 address that carries an IPv4 address (mapped,
compatible, NAT64, 6to4, Teredo) is judged by the IPv4 address it leads to: a NAT64 gateway or
a 6to4 relay would deliver there. The connection then goes to the address that was
checked (no second DNS lookup an attacker could answer differently), and redirects are
followed by hand so each hop is checked again.
"""

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

MAX_REDIRECTS = 3
REDIRECTS = {301, 302, 303, 307, 308}


class DestinationRefused(Exception):
    """The URL points somewhere webhooks may not go."""


@dataclass(frozen=True)
class HttpResult:
    status: int
    url: str
    body_excerpt: str


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: list[str]) -> list[Network]:
    return [ipaddress.ip_network(value, strict=False) for value in values]


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def destinations(address: Address) -> list[Address]:
    """The addresses a packet to ``address`` may end up at: the IPv4 addresses an IPv6 one
    embeds, or the address itself."""
    if isinstance(address, ipaddress.IPv4Address):
        return [address]
    embedded: list[Address] = []
    if address.ipv4_mapped is not None:
        embedded.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        embedded.append(address.sixtofour)
    if address.teredo is not None:
        embedded.extend(address.teredo)  # the server, and the client it relays to
    if address in NAT64 or (address in IPV4_COMPATIBLE and int(address) > 1):
        embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return embedded or [address]


def _reachable(address: Address, allowed: list[Network]) -> bool:
    return all(
        (target.is_global and not target.is_multicast)
        or any(target in network for network in allowed)
        for target in destinations(address)
    )


def resolve_checked(url: str, allowed: list[Network]) -> tuple[str, int, str]:
    """``(host, port, address)`` for a URL whose every address may be contacted."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DestinationRefused(f"{url!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise DestinationRefused("credentials in webhook URLs are not allowed")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DestinationRefused(f"{parts.hostname} does not resolve: {exc}") from exc
    addresses = sorted({str(info[4][0]) for info in infos})
    for text in addresses:
        address = ipaddress.ip_address(text.split("%")[0])
        if not _reachable(address, allowed):
            raise DestinationRefused(
                f"{parts.hostname} resolves to {address}, a non-public address"
            )
    return parts.hostname, port, addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def post_json(
    url: str, body: bytes, headers: dict[str, str], *, allowed: list[Network], timeout: float
) -> HttpResult:
    """POST ``body``; follow up to three redirects, each destination checked again."""
    for _ in range(MAX_REDIRECTS + 1):
        host, port, address = resolve_checked(url, allowed)
        parts = urlsplit(url)
        connection_class = (
            _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
        )
        connection = connection_class(host, port, address, timeout)
        try:
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            excerpt = response.read(2048).decode("utf-8", "replace")
            location = response.getheader("Location")
        finally:
            connection.close()
        if response.status in REDIRECTS and location:
            url = urljoin(url, location)
            continue
        return HttpResult(status=response.status, url=url, body_excerpt=excerpt)
    raise DestinationRefused(f"more than {MAX_REDIRECTS} redirects")
