"""A broker adapter's access token, kept in a file so that a restarted process reuses it.

Brokers ration token issuance: KIS allows one a minute per app key (and sends a KakaoTalk notice
for each on a real account); Kiwoom's au10001 tokens live about a day, and issuing one at every
restart is what its service rate-limits. ``qts run`` keeps the file beside the books
(``<db>.token``, qts.app.live_books). The file holds a token, so only its owner may read it; it
is replaced atomically, and it answers only the app key and server it was written for (another
key or base URL reads nothing). The app key itself is not stored, only a digest of it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def key_id(app_key: str) -> str:
    """A short digest naming the app key in the file (never the key itself)."""
    return hashlib.sha256(app_key.encode()).hexdigest()[:16]


class TokenCache:
    """One adapter's token file; ``path`` None keeps nothing (the token lives in memory)."""

    def __init__(self, path: Path | None, app_key: str, base_url: str) -> None:
        self.path = path
        self._key_id = key_id(app_key)
        self._base_url = base_url

    def load(self) -> dict[str, Any]:
        """The fields saved for this app key and server; empty when there are none (no file,
        an unreadable one, another key's or another server's)."""
        path = self.path
        if path is None or not path.exists():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.warning("token cache unreadable; ignoring it")
            return {}
        if not isinstance(data, dict) or data.get("key_id") != self._key_id:
            return {}
        if data.get("base_url") != self._base_url:
            return {}
        return {k: v for k, v in data.items() if k not in ("key_id", "base_url")}

    def save(self, fields: Mapping[str, Any]) -> None:
        """Replace the file with ``fields`` (JSON values) for this app key and server."""
        if self.path is None:
            return
        data = {"key_id": self._key_id, "base_url": self._base_url, **fields}
        write_private(self.path, json.dumps(data))


def write_private(path: Path, text: str) -> None:
    """Write ``text`` atomically to a file only the owner can read (it holds a token)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


__all__ = ["TokenCache", "key_id", "write_private"]
