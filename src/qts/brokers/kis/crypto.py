"""AES-256-CBC of KIS fill notices: Base64 ciphertext, PKCS#7 padding, key/iv as ASCII text.

The key (32 chars) and iv (16 chars) come from the subscribe reply of the notice TR.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def decrypt(key: str, iv: str, text: str) -> str:
    cipher = Cipher(algorithms.AES(key.encode("ascii")), modes.CBC(iv.encode("ascii")))
    decryptor = cipher.decryptor()
    raw = decryptor.update(base64.b64decode(text)) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return (unpadder.update(raw) + unpadder.finalize()).decode("utf-8")


def encrypt(key: str, iv: str, text: str) -> str:
    padder = padding.PKCS7(128).padder()
    data = padder.update(text.encode("utf-8")) + padder.finalize()
    cipher = Cipher(algorithms.AES(key.encode("ascii")), modes.CBC(iv.encode("ascii")))
    encryptor = cipher.encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode("ascii")
