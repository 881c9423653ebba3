"""Service-account key files for the fake: a real RSA key, a ``token_uri`` on the fake.

google-auth signs its JWT grant with the private key and posts it to ``token_uri``; the fake
checks the signature with the public key registered here. Nothing leaves the machine.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from qts.data.sheets.fake.server import FakeSheetsServer


@dataclass(frozen=True)
class _KeyPair:
    private_pem: str
    public_pem: str


@lru_cache(maxsize=1)
def _key_pair() -> _KeyPair:
    """One RSA key per process: generating one takes tens of milliseconds."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return _KeyPair(private_pem, public_pem)


def service_account_info(
    server: FakeSheetsServer, email: str = "qts-bot@qts-test.iam.gserviceaccount.com"
) -> dict[str, str]:
    """A service-account key (the JSON Google hands out) whose tokens come from ``server``."""
    pair = _key_pair()
    server.register_service_account(email, pair.public_pem)
    return {
        "type": "service_account",
        "project_id": "qts-test",
        "private_key_id": secrets.token_hex(20),
        "private_key": pair.private_pem,
        "client_email": email,
        "client_id": "100000000000000000000",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": server.token_url,
    }


def write_service_account_file(
    server: FakeSheetsServer,
    path: Path,
    email: str = "qts-bot@qts-test.iam.gserviceaccount.com",
) -> Path:
    path.write_text(json.dumps(service_account_info(server, email)), encoding="utf-8")
    path.chmod(0o600)
    return path
