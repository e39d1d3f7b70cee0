"""The platform's allow-list of ModelArts endpoints (``MODELARTS_ALLOWED_ENDPOINTS``).

Every endpoint the operator would sign a request for — a project's, a tenant's, the operator's own default —
is checked here first, before any Secret is read or any byte leaves. A pattern is ``scheme://host[:port][/path]``:
``*`` in the host matches exactly one DNS label, a port ``*`` any port, no port the scheme's default; the path
must be the same. https only, unless a pattern itself says ``http://`` (a local emulator). Userinfo, queries and
fragments are never allowed.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

DEFAULT_ALLOWED_ENDPOINTS = ("https://modelarts.*.myhuaweicloud.com", "https://modelarts.*.myhuaweicloud.eu")
_DEFAULT_PORTS = {"https": 443, "http": 80}


class EndpointRefused(ValueError):
    """The endpoint is not on the allow-list (the message says which rule and what to ask for)."""


@dataclass(frozen=True)
class _Pattern:
    scheme: str
    host_labels: tuple[str, ...]
    port: str | None  # None: the scheme's default; "*": any
    path: str
    text: str

    @classmethod
    def parse(cls, text: str) -> _Pattern:
        parts = urlsplit(text.strip())
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username or parts.query:
            raise ValueError(f"not an endpoint pattern: {text!r} (expected scheme://host[:port][/path])")
        host_port = parts.netloc.rsplit(":", 1)
        port = host_port[1] if len(host_port) == 2 and not host_port[0].endswith("]") else None
        return cls(
            scheme=parts.scheme,
            host_labels=tuple(parts.hostname.lower().split(".")),
            port=port,
            path=parts.path.rstrip("/"),
            text=text.strip(),
        )

    def matches(self, url: SplitResult, port: int) -> bool:
        host = (url.hostname or "").lower().split(".")
        if url.scheme != self.scheme or len(host) != len(self.host_labels):
            return False
        if not all(
            fnmatch.fnmatchcase(label, pattern) if "*" in pattern else label == pattern
            for label, pattern in zip(host, self.host_labels, strict=True)
        ):
            return False
        if self.port == "*":
            port_ok = True
        elif self.port is None:
            port_ok = port == _DEFAULT_PORTS[self.scheme]
        else:
            port_ok = str(port) == self.port
        return port_ok and url.path.rstrip("/") == self.path


class EndpointPolicy:
    """Which ModelArts endpoints may be called."""

    def __init__(self, patterns: tuple[str, ...] | list[str] = DEFAULT_ALLOWED_ENDPOINTS) -> None:
        self._patterns = tuple(_Pattern.parse(p) for p in patterns if p.strip())

    @property
    def patterns(self) -> tuple[str, ...]:
        return tuple(p.text for p in self._patterns)

    def check(self, endpoint: str, *, origin: str) -> str:
        """The endpoint, normalised (no trailing slash); ``EndpointRefused`` naming ``origin`` otherwise."""
        text = endpoint.strip()
        try:
            url = urlsplit(text)
            port = url.port or _DEFAULT_PORTS.get(url.scheme, 0)
        except ValueError:
            raise EndpointRefused(f"{origin} is not a valid URL") from None
        if url.username is not None or url.password is not None or url.query or url.fragment:
            raise EndpointRefused(f"{origin} {text} may not carry credentials, a query or a fragment")
        if not any(pattern.matches(url, port) for pattern in self._patterns):
            allowed = ", ".join(self.patterns) or "(none)"
            raise EndpointRefused(
                f"{origin} {text} is not an allowed ModelArts endpoint (MODELARTS_ALLOWED_ENDPOINTS: {allowed}); "
                "ask your platform team"
            )
        return text.rstrip("/")
