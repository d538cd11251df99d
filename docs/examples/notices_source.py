"""A worked example of a long-running source (docs/connectors.md): a JSON endpoint of notices, polled by id.

Tested in tests/unit/test_connector_example.py against a loopback server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from connectors.base import Rejected
from connectors.live import Item, LiveSource, SourceRefused, SourceUnavailable
from schemas.posts import raw_post


class Notices(LiveSource):
    """Notices newer than the last one published, asked for every ``every`` seconds."""

    name = "notices"

    def __init__(self, url: str, token: str, every: float = 60.0) -> None:
        self.url, self.token, self.every = url, token, every

    async def stream(self, checkpoint: dict[str, Any]) -> AsyncIterator[Item]:
        after = int(checkpoint.get("after", 0))
        while True:
            for item in await self._fetch(after):
                try:
                    post = raw_post(source=self.name, native_id=item["id"], text=item["text"], created_at=item["at"])
                except (KeyError, ValueError) as exc:
                    yield Item(Rejected(repr(item).encode(), f"not a notice: {exc}"), {"after": after})
                    continue
                after = max(after, int(item["id"]))
                yield Item(post, {"after": after})
            await asyncio.sleep(self.every)

    async def _fetch(self, after: int) -> list[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
                async with http.get(self.url, params={"after": after}, headers=headers) as resp:
                    if resp.status == 401:
                        raise SourceRefused("The notices endpoint refused the token; set NOTICES_TOKEN.")
                    if resp.status == 429 or resp.status >= 500:
                        retry = resp.headers.get("Retry-After")
                        raise SourceUnavailable(f"HTTP {resp.status}", float(retry) if retry else None)
                    return list(await resp.json())
        except aiohttp.ClientError as exc:
            raise SourceUnavailable(type(exc).__name__) from None
