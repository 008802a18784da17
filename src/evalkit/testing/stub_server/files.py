"""Uploaded files, used by both batches and fine-tuning.

``POST /v1/files``          OpenAI file upload (multipart: ``purpose``, ``file``).
``POST /v1/files/upload``   Together file upload (multipart: ``purpose``, ``file_name``,
                            ``file_type``, ``file``).
``GET  /v1/files/{id}``     OpenAI file object; ``/v1/files/{id}/content`` its bytes.

Uploaded files (and the output files of finished batches) are kept in ``files``
(id -> record with the ``provider``, ``purpose``, ``filename``, ``bytes`` and ``content``).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from evalkit.testing.stub_server.common import Handled, StubRequest, _BadRequest, _NotFound


class _FilesMixin:
    """The file endpoints of StubServer (see the module docstring)."""

    # Set by StubServer.__init__ (or defined by a sibling mixin); declared for the type checker.
    _lock: threading.Lock
    files: dict[str, dict[str, Any]]

    def _store_file(self, provider: str, upload: Any, purpose: Any, filename: str | None = None) -> dict[str, Any]:
        if not isinstance(upload, dict) or "content" not in upload:
            raise _BadRequest("file: a file part is required.")
        if not purpose:
            raise _BadRequest("purpose: Field required.")
        with self._lock:
            file_id = f"file-stub{len(self.files) + 1}"
            self.files[file_id] = {"id": file_id, "provider": provider, "purpose": purpose,
                                   "filename": filename or upload.get("filename") or "upload.jsonl",
                                   "bytes": upload["bytes"], "content": upload["content"]}
        return self.files[file_id]

    async def _handle_openai_file_upload(self, req: StubRequest) -> Handled:
        stored = self._store_file("openai", req.body.get("file"), req.body.get("purpose"))
        return 200, {"id": stored["id"], "object": "file", "bytes": stored["bytes"], "created_at": int(time.time()),
                     "filename": stored["filename"], "purpose": stored["purpose"], "status": "processed",
                     "expires_at": None, "status_details": None}, None

    async def _handle_openai_file(self, req: StubRequest) -> Handled:
        file_id, _, tail = req.rest.partition("/")
        stored = self.files.get(file_id)
        if stored is None or stored["provider"] != "openai" or tail not in ("", "content"):
            raise _NotFound(f"No such File object: {file_id}")
        if tail == "content":
            return 200, stored["content"].encode("utf-8"), {"content-type": "application/octet-stream"}
        return 200, {"id": file_id, "object": "file", "bytes": stored["bytes"], "created_at": int(time.time()),
                     "filename": stored["filename"], "purpose": stored["purpose"], "status": "processed",
                     "expires_at": None, "status_details": None}, None

    async def _handle_together_file_upload(self, req: StubRequest) -> Handled:
        stored = self._store_file("together", req.body.get("file"), req.body.get("purpose"), req.body.get("file_name"))
        return (
            200,
            {
                "id": stored["id"],
                "object": "file",
                "created_at": int(time.time()),
                "filename": stored["filename"],
                "bytes": stored["bytes"],
                "purpose": stored["purpose"],
                "Processed": True,
                "FileType": req.body.get("file_type") or "jsonl",
                "LineCount": stored["content"].count("\n"),
            },
            None,
        )
