"""The guard for URLs that users hand the server to call (Web Push endpoints; later webhooks
and linked calendars): https, and only to public internet addresses.

Without it, a user could register `https://10.0.0.5/admin` or the cloud metadata address
as a push endpoint and make the server send requests into its own network (SSRF).
`check_public_url` looks at the URL alone (scheme, host, literal addresses, names such as
`localhost`); `resolve_public_url` also resolves the host and checks every address it
resolves to, because a public name may point anywhere (and may change after it was
registered), so it runs again just before each request.

`allow_private=True` (MEETBOOK_ALLOW_PRIVATE_TARGETS=1: tests, closed networks) lets a
URL be plain http and reach any address. The aiohttp session that applies the guard to
every connection and redirect is in `outbound_http.py`, apart, so that importing the app
does not import aiohttp when no channel uses it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance metadata services: named, because "link-local" does not tell an operator why.
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Names that resolve to this machine or its private network by convention (RFC 6761,
# RFC 8375) or at every cloud provider, whatever public DNS says.
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".localdomain")
_RESOLVE_TIMEOUT = 5.0


class OutboundRefused(ValueError):
    """The URL may not be called; `reason` says why in words a user understands."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class OutboundTarget:
    """A URL that passed the checks, and the addresses it resolved to (when resolved)."""

    url: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...] = ()


def address_problem(address: IPAddress) -> str | None:
    """What kind of non-public address `address` is ("a loopback address"), or None."""
    if address in METADATA_ADDRESSES:
        return "the cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv6 form that carries an IPv4 address reaches that IPv4 address.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is not None:
            problem = address_problem(embedded)
            if problem is not None:
                return f"an IPv6 form of {problem}"
    is_v4 = isinstance(address, ipaddress.IPv4Address)
    site_local = isinstance(address, ipaddress.IPv6Address) and address.is_site_local
    checks = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (is_v4 and address in _CGNAT, "a shared (CGNAT) address"),
        (site_local, "a site-local address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    )
    for applies, what in checks:
        if applies:
            return what
    return None


def _literal_address(host: str) -> IPAddress | None:
    """The address `host` spells, also in the legacy IPv4 forms resolvers accept."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        # "127.1", "2130706433", "0x7f.0.0.1": inet_aton reads them as getaddrinfo would.
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def check_public_url(url: str, *, allow_private: bool) -> OutboundTarget:
    """The URL's target, or OutboundRefused when it is not https to a public host.

    Looks at the URL only; `resolve_public_url` also checks what the host resolves to.
    """
    try:
        parts: SplitResult = urlsplit(url)
        port = parts.port
    except ValueError:
        raise OutboundRefused("it is not a valid URL") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise OutboundRefused("it must be an https URL")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise OutboundRefused("it has no host name")
    if parts.username is not None or parts.password is not None:
        raise OutboundRefused("it must not contain a user name or password")
    target = OutboundTarget(url, host, port or (443 if parts.scheme == "https" else 80))
    if allow_private:
        return target
    literal = _literal_address(host)
    if literal is not None:
        problem = address_problem(literal)
        if problem is not None:
            raise OutboundRefused(f"its host {literal} is {problem}")
        return target
    name = host.lower()
    if name in _LOCAL_NAMES or name.endswith(_LOCAL_SUFFIXES):
        raise OutboundRefused(f"its host {host} is a local name, not a public internet host")
    return target


async def resolve_public_url(url: str, *, allow_private: bool) -> OutboundTarget:
    """`check_public_url`, then resolve the host and check every address it resolves to."""
    target = check_public_url(url, allow_private=allow_private)
    if allow_private:
        return target
    literal = _literal_address(target.host)
    if literal is not None:
        return OutboundTarget(target.url, target.host, target.port, (literal,))
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM),
            _RESOLVE_TIMEOUT,
        )
    except (OSError, TimeoutError, UnicodeError):
        raise OutboundRefused(f"its host {target.host} does not resolve") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # An IPv6 sockaddr may carry a zone ("fe80::1%eth0"); the address is before it.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        problem = address_problem(address)
        if problem is not None:
            # Not the address itself: that would let users map the internal network's names.
            raise OutboundRefused(f"its host {target.host} resolves to {problem}")
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise OutboundRefused(f"its host {target.host} does not resolve")
    return OutboundTarget(target.url, target.host, target.port, tuple(addresses))
