"""A request with files as multipart/form-data: the JSON request part, then each file's raw bytes."""

from __future__ import annotations

import secrets

from spotrun.protocol import MULTIPART_FILE_PART, MULTIPART_REQUEST_PART, AgentRequest


def encode_multipart(request: AgentRequest) -> tuple[bytes, str]:
    """(body, Content-Type) of `request` as the agents' multipart form (docs/protocol.md).

    The files travel raw (no base64: 3/4 of the JSON body's size, and the agent reads them in
    pieces); the `request` part lists them without data, in the order of the file parts. Built once
    per job, so every retry sends the same bytes.
    """
    files = [f.content() for f in request.files]
    head = request.model_copy(
        update={"files": [f.model_copy(update={"data": b""}) for f in request.files]}
    ).model_dump_json()
    boundary = _boundary(files)
    segments = [*_part(boundary, MULTIPART_REQUEST_PART, "application/json", head.encode())]
    for data in files:
        segments += _part(boundary, MULTIPART_FILE_PART, "application/octet-stream", data)
    segments.append(f"--{boundary}--\r\n".encode())
    return b"".join(segments), f"multipart/form-data; boundary={boundary}"  # one copy of each file


def _boundary(files: list[bytes]) -> str:
    while True:  # 128 random bits: a file holding it is astronomically unlikely, but checked
        boundary = f"spotrun-{secrets.token_hex(16)}"
        if not any(boundary.encode() in data for data in files):
            return boundary


def _part(boundary: str, name: str, content_type: str, data: bytes) -> list[bytes]:
    # Content-Length per part lets the agent refuse an oversized file before reading it.
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{name}"\r\n'
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return [head.encode(), data, b"\r\n"]
