"""Every HTTP exchange of a probe, kept as it came over the wire, and written out (redacted) for bug reports.

``RecordingTransport`` sits under the operator's own ``ModelArtsClient``, so the probe reads ModelArts exactly as
the operator does (same requests, caps, error types, retries) while the raw answers stay available for the strict
comparison and for ``--record``. It refuses anything but GET before a byte leaves: the probe never writes.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx

from modelarts_operator.tools.redaction import Redactor

RECORD_VERSION = 1
_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class WriteRefused(RuntimeError):
    """The probe tried to send something other than GET (a bug; nothing was sent)."""


@dataclass
class Exchange:
    """One request and what came back (``status`` is None when no answer came: ``error`` says why)."""

    sequence: int
    method: str
    path: str
    query: list[tuple[str, str]]
    status: int | None = None
    content_type: str | None = None
    body: bytes = b""
    error: str | None = None
    label: str = field(default="")

    def json_body(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None

    def text_body(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def to_record(self, redactor: Redactor) -> dict[str, Any]:
        """The redacted, replayable form written by ``--record``."""
        response: dict[str, Any] = {"status": self.status, "contentType": self.content_type}
        data = self.json_body()
        if data is not None or self.body.strip() == b"null":
            response["body"] = redactor.json(data)
        elif self.body:
            response["bodyText"] = redactor.text(self.text_body())
        if self.error:
            response["error"] = redactor.text(self.error)
        return {
            "recordVersion": RECORD_VERSION,
            "sequence": self.sequence,
            "label": self.label,
            "request": {
                "method": self.method,
                "path": redactor.text(self.path),
                "query": [[key, redactor.text(value)] for key, value in self.query],
            },
            "response": response,
        }


def _decode(raw: bytes, encoding: str, limit: int) -> bytes:
    wbits = _DECODERS.get(encoding)
    if wbits is None:
        return raw
    try:
        decoder = zlib.decompressobj(wbits)
        return decoder.decompress(raw, limit + 1)
    except zlib.error:
        return raw


class RecordingTransport(httpx.AsyncBaseTransport):
    """Passes GETs to ``inner`` and keeps each exchange; anything else raises ``WriteRefused`` unsent."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, max_body_bytes: int) -> None:
        self._inner = inner
        self._max = max_body_bytes
        self.exchanges: list[Exchange] = []
        self.label = ""  # what the caller is doing, attached to the next exchanges

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            raise WriteRefused(f"the probe never writes, yet it tried {request.method} {request.url.path}")
        exchange = Exchange(
            sequence=len(self.exchanges) + 1,
            method=request.method,
            path=request.url.path,
            query=parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True),
            label=self.label,
        )
        self.exchanges.append(exchange)
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.HTTPError as exc:
            exchange.error = f"{type(exc).__name__}: {exc}"
            raise
        exchange.status = response.status_code
        exchange.content_type = response.headers.get("Content-Type")
        if response.is_stream_consumed:  # built in memory (a test's MockTransport): already whole and decoded
            exchange.body = response.content
            return response
        # At most one byte more than the client accepts: enough for it to refuse an oversized answer itself.
        raw = bytearray()
        try:
            async for chunk in response.aiter_raw():
                raw += chunk
                if len(raw) > self._max:
                    break
        finally:
            await response.aclose()
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        exchange.body = _decode(bytes(raw), encoding, self._max)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(bytes(raw)),
            request=request,
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def write_records(exchanges: list[Exchange], directory: Path, redactor: Redactor) -> list[Path]:
    """One JSON file per exchange (``001-list.json``, ...), redacted; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for exchange in exchanges:
        slug = "-".join(part for part in exchange.label.replace("=", "-").split() if part) or "answer"
        path = directory / f"{exchange.sequence:03d}-{slug}.json"
        path.write_text(json.dumps(exchange.to_record(redactor), indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    return written


def load_records(directory: Path) -> list[dict[str, Any]]:
    """The exchanges of a recording, in order (``*.json`` files with a ``recordVersion``)."""
    records = []
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and data.get("recordVersion") == RECORD_VERSION:
            records.append(data)
    return records


class ReplayTransport(httpx.AsyncBaseTransport):
    """Answers requests from a recording (matched by method, path and query), for tests and offline analysis."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self._answers: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[dict[str, Any]]] = {}
        for record in records:
            request = record["request"]
            key = (request["method"], request["path"], tuple(sorted((k, v) for k, v in request["query"])))
            self._answers.setdefault(key, []).append(record["response"])

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        query = tuple(sorted(parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True)))
        answers = self._answers.get((request.method, request.url.path, query))
        if not answers:
            raise httpx.ConnectError(f"nothing recorded for {request.method} {request.url.path}", request=request)
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if answer.get("status") is None:
            raise httpx.ConnectError(str(answer.get("error", "no answer recorded")), request=request)
        headers = {"Content-Type": answer.get("contentType") or "application/json"}
        if "body" in answer:
            content = json.dumps(answer["body"]).encode()
        else:
            content = str(answer.get("bodyText", "")).encode()
        return httpx.Response(int(answer["status"]), headers=headers, content=content, request=request)
