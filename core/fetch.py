"""Downloading an image that a request names by URL (remove.bg's image_url and bg_image_url)
without letting the request reach this server's own network.

http and https only; every address the host name resolves to must be public (not loopback,
private, link-local, which holds the cloud metadata address 169.254.169.254, multicast or
reserved); the connection goes to the address that was checked, so a second lookup cannot be
steered elsewhere (DNS rebinding); redirects (at most MAX_REDIRECTS) pass the same checks; the
body is cut off past `max_bytes` and the whole download past `timeout` seconds."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

from core.removebg import RemoveBgError

MAX_REDIRECTS = 3
TIMEOUT_SECONDS = 10.0
CHUNK = 64 * 1024


# IPv6 ranges whose low 32 bits are an IPv4 address: NAT64, IPv4-compatible (::a.b.c.d), and
# IPv4-translated (::ffff:0:a.b.c.d).
CARRIERS = tuple(ipaddress.ip_network(net) for net in ("64:ff9b::/96", "::/96", "::ffff:0:0:0/96"))


def is_public(address: str) -> bool:
    """True for an address on the public internet. An IPv6 address that carries an IPv4 one
    (mapped, compatible, translated, 6to4, Teredo, NAT64) is judged by the IPv4 address it reaches."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is None and any(ip in net for net in CARRIERS):
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            ip = inner
    return ip.is_global and not ip.is_multicast


def fetch_image(url: str, *, max_bytes: int, timeout: float = TIMEOUT_SECONDS,
                allowed: Callable[[str], bool] = is_public) -> bytes:
    """The body at `url` (following checked redirects); RemoveBgError invalid_image_url,
    file_too_large or failed_image_download."""
    deadline = time.monotonic() + timeout
    for _ in range(MAX_REDIRECTS + 1):
        scheme, host, port, path = _parsed(url)
        address = _checked_address(host, port, allowed)
        connection = _connection(scheme, host, port, address, _left(deadline))
        try:
            name = f"[{host}]" if ":" in host else host
            connection.request("GET", path, headers={"Host": f"{name}:{port}", "User-Agent": "Cutout image fetcher"})
            response = connection.getresponse()
            if response.status in (301, 302, 303, 307, 308) and response.getheader("Location"):
                url = urljoin(url, response.getheader("Location"))
                continue
            if response.status != 200:
                raise RemoveBgError("failed_image_download", f"The image URL answered HTTP {response.status}.")
            return _body(response, max_bytes, deadline)
        except (OSError, http.client.HTTPException) as exc:
            raise RemoveBgError("failed_image_download", f"The image could not be downloaded: {exc}.") from None
        finally:
            connection.close()
    raise RemoveBgError("failed_image_download", f"The image URL redirects more than {MAX_REDIRECTS} times.")


def _parsed(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of an http(s) URL; invalid_image_url otherwise."""
    refusal = RemoveBgError("invalid_image_url", "image_url must be an http or https URL.")
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a port out of range, a broken [IPv6] literal
        raise refusal from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise refusal
    return parts.scheme, parts.hostname, port, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise RemoveBgError("failed_image_download", "The image took too long to download.")
    return left


def _checked_address(host: str, port: int, allowed: Callable[[str], bool]) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):  # no such name, or one that cannot be encoded (a..b)
        raise RemoveBgError("invalid_image_url", f"The host {host!r} cannot be found.") from None
    addresses = [info[4][0] for info in infos]
    if not addresses or not all(allowed(address) for address in addresses):
        raise RemoveBgError("invalid_image_url", "image_url must point at a public address, not this server's "
                                                 "own network.")
    return addresses[0]


def _connection(scheme: str, host: str, port: int, address: str, timeout: float):
    """An HTTP(S) connection to `address` (already checked) that still names `host` (Host, SNI)."""
    base = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection

    class Pinned(base):
        def connect(self) -> None:
            sock = socket.create_connection((address, self.port), self.timeout)
            if scheme == "https":
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
            self.sock = sock

    return Pinned(host, port, timeout=timeout)


def _body(response, max_bytes: int, deadline: float) -> bytes:
    declared = response.getheader("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise RemoveBgError("file_too_large", f"The image at the URL is over {max_bytes // 1_000_000} MB.")
    chunks, size = [], 0
    while True:  # each read waits at most the socket's timeout (the time left when it connected)
        _left(deadline)
        chunk = response.read1(CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise RemoveBgError("file_too_large", f"The image at the URL is over {max_bytes // 1_000_000} MB.")
        chunks.append(chunk)
