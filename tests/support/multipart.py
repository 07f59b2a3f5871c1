"""A multipart/form-data body by hand, for clients that talk to a running server over HTTP."""

from __future__ import annotations

import uuid


def multipart(fields: dict[str, str], image: bytes, filename: str = "photo.jpg",
              content_type: str = "image/jpeg", field: str = "image") -> tuple[bytes, str]:
    """The form's fields and its `image` file (the form field `field`) as one body; (body, Content-Type)."""
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
                 f"Content-Type: {content_type}\r\n\r\n".encode() + image + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"
