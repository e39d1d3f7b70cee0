"""``limit`` and ``continue`` on the pool list, the way Kubernetes-style APIs page.

Pools are listed in name order; a page of ``limit`` items carries ``metadata.continue`` when more remain, an
opaque token that names the last pool returned and the query it belongs to. Sending it back with the same
filters gives the next page; a token that cannot be read, or one from another query, is a 400. A pool created
or deleted between pages shows up or drops out as its name falls, as in Kubernetes (no snapshot is kept).

Huawei's ListPools reference documents neither parameter (docs/emulator.md: "Paging"); this is the emulator's own
choice.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from modelarts_emulator.errors import bad_request

TOKEN_VERSION = 1


@dataclass(frozen=True)
class Page:
    names: list[str]
    continue_token: str | None


def parse_limit(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    try:
        limit = int(text)
    except ValueError:
        raise bad_request("limit must be a positive integer.") from None
    if limit < 1:
        raise bad_request("limit must be a positive integer.")
    return limit


def query_key(*parts: object) -> str:
    """A short digest of the filters, so a token is only good for the query that made it."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def encode_token(after: str, query: str) -> str:
    raw = json.dumps({"v": TOKEN_VERSION, "after": after, "q": query}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, query: str) -> str:
    """The name the previous page ended with; a 400 for a token that is not one of ours or not this query's."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (ValueError, binascii.Error):
        raise bad_request("The continue token is not valid.") from None
    if (
        not isinstance(data, dict)
        or data.get("v") != TOKEN_VERSION
        or not isinstance(data.get("after"), str)
        or not isinstance(data.get("q"), str)
    ):
        raise bad_request("The continue token is not valid.")
    if data["q"] != query:
        raise bad_request("The continue token belongs to a different query (other filters).")
    return str(data["after"])


def page(sorted_names: Sequence[str], *, limit: int | None, token: str | None, query: str) -> Page:
    """The names of this page (``sorted_names`` must be in ascending order) and the token for the next one."""
    names = list(sorted_names)
    if token:
        after = decode_token(token, query)
        names = [name for name in names if name > after]
    if limit is None or len(names) <= limit:
        return Page(names=names, continue_token=None)
    shown = names[:limit]
    return Page(names=shown, continue_token=encode_token(shown[-1], query))
