"""HTTP/1.1 framing for the stub: chunked request bodies, multipart/form-data bodies
and serialized responses (a JSON document, or raw bytes for a file's content).

A multipart body is parsed into a dict of fields; a file field becomes
``{"filename", "content_type", "bytes", "content"}``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, cast

_PHRASES = {s.value: s.phrase for s in HTTPStatus}
_PHRASES.setdefault(529, "Overloaded")


def _parse_multipart(content_type: str, raw: bytes) -> dict[str, Any] | None:
    """A multipart/form-data body as {field: text} with file fields as {filename, content_type, bytes, content}."""
    from email import policy
    from email.parser import BytesParser

    try:
        message = BytesParser(policy=policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw
        )
    except Exception:  # noqa: BLE001 - any parse failure is a 400
        return None
    if not message.is_multipart():
        return None
    form: dict[str, Any] = {}
    for part in message.iter_parts():
        # a str here: the form's names are plain (an RFC 2231 tuple is for encoded values)
        name = cast(str, part.get_param("name", header="content-disposition"))
        if not name:
            continue
        payload = cast(bytes, part.get_payload(decode=True) or b"")  # a leaf part decodes to bytes
        filename = part.get_filename()
        if filename is not None:
            form[name] = {"filename": filename, "content_type": part.get_content_type(), "bytes": len(payload),
                          "content": payload.decode("utf-8", errors="replace")}
        else:
            form[name] = payload.decode("utf-8", errors="replace")
    return form


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        line = await reader.readuntil(b"\r\n")
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _raw_response(status: int, headers: Mapping[str, str], payload: Any, keep_alive: bool) -> bytes:
    if isinstance(payload, (bytes, bytearray)):  # a file's bytes (batch files, batch results)
        body, content_type = bytes(payload), headers.get("content-type", "application/octet-stream")
    else:
        body, content_type = (
            json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"),
            "application/json",
        )
    head = [f"HTTP/1.1 {status} {_PHRASES.get(status, 'Unknown')}\r\n",
            f"content-type: {content_type}\r\n",
            f"content-length: {len(body)}\r\n"]
    for name, value in headers.items():
        if name != "content-type":
            head.append(f"{name}: {value}\r\n")
    if not keep_alive:
        head.append("connection: close\r\n")
    head.append("\r\n")
    return "".join(head).encode("latin-1") + body
