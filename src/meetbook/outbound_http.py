"""An aiohttp session that keeps `outbound`'s guard on every connection and redirect.

Apart from `outbound.py` so that only the channels that send over aiohttp (Web Push)
import aiohttp, and only when they are configured.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import aiohttp
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from meetbook.outbound import OutboundRefused, address_problem, check_public_url


class PublicAddressResolver(AbstractResolver):
    """An aiohttp resolver that fails for any host resolving to a non-public address.

    The connector connects to exactly the addresses its resolver returned, so checking
    here (rather than only before the request) leaves no gap for a name whose DNS
    answer changes between the check and the connection.
    """

    def __init__(self) -> None:
        self._resolver = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._resolver.resolve(host, port, family)
        for result in results:
            problem = address_problem(ipaddress.ip_address(result["host"].split("%", 1)[0]))
            if problem is not None:
                raise OutboundRefused(f"its host {host} resolves to {problem}")
        return results

    async def close(self) -> None:
        await self._resolver.close()


async def _check_each_request(request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
    # Every request of the session, redirects included: a redirect to an address
    # literal never reaches the resolver.
    check_public_url(str(request.url), allow_private=False)
    return await handler(request)


def public_only_session(*, allow_private: bool, **options: Any) -> aiohttp.ClientSession:
    """An aiohttp session that can reach public https addresses only (unless allowed)."""
    if allow_private:
        return aiohttp.ClientSession(**options)
    connector = aiohttp.TCPConnector(resolver=PublicAddressResolver())
    return aiohttp.ClientSession(connector=connector, middlewares=(_check_each_request,), **options)
