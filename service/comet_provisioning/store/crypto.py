"""Secrets at rest: AES-256-GCM for Comet admin passwords, HMAC for request fingerprints.

One 32-byte master key (urlsafe base64, from the configuration or a key file) is never used
directly: HKDF derives one subkey per purpose. Each ciphertext is bound to the row it belongs to
(the associated data, e.g. the server id), so a ciphertext copied onto another row does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["DEMO_KEY_FILENAME", "SecretBox", "SecretKeyError", "generate_key", "load_key"]

DEMO_KEY_FILENAME = "secret.key"
_KEY_BYTES = 32
_NONCE_BYTES = 12
_FORMAT_V1 = b"\x01"


class SecretKeyError(ValueError):
    """No usable key: the message says which setting to fix (and never shows the key)."""


def _derive(master: bytes, purpose: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=None, info=purpose.encode())
    return hkdf.derive(master)


class SecretBox:
    """Encrypts short secrets with AES-GCM and fingerprints requests with HMAC-SHA256."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != _KEY_BYTES:
            raise SecretKeyError(f"the secret key must be {_KEY_BYTES} bytes")
        self._aead = AESGCM(_derive(master_key, "comet-provisioning/v1/secret-encryption"))
        self._mac_key = _derive(master_key, "comet-provisioning/v1/request-fingerprint")

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def encrypt(self, plaintext: str, *, bound_to: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _FORMAT_V1 + nonce + self._aead.encrypt(nonce, plaintext.encode(), bound_to.encode())

    def decrypt(self, blob: bytes, *, bound_to: str) -> str:
        if blob[:1] != _FORMAT_V1 or len(blob) < 1 + _NONCE_BYTES + 16:
            raise SecretKeyError("unknown ciphertext format")
        nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, bound_to.encode()).decode()
        except InvalidTag as exc:
            raise SecretKeyError(
                "a stored secret does not decrypt: wrong secret key, or the row was tampered with"
            ) from exc

    def fingerprint(self, data: bytes) -> str:
        """A keyed digest (hex): equal for equal inputs, useless for guessing what was hashed."""
        return hmac.new(self._mac_key, data, hashlib.sha256).hexdigest()


def generate_key() -> str:
    """A fresh master key, urlsafe base64 (what `secret_key` and key files hold)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(_KEY_BYTES)).decode()


def _decode(text: str, where: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode())
    except (binascii.Error, ValueError) as exc:
        raise SecretKeyError(f"{where}: not urlsafe base64") from exc
    if len(raw) != _KEY_BYTES:
        raise SecretKeyError(f"{where}: must decode to {_KEY_BYTES} bytes, got {len(raw)}")
    return raw


def load_key(secret_key: str, secret_key_file: str, *, demo_dir: str | Path | None = None) -> bytes:
    """The master key from `secret_key`, else `secret_key_file`; with `demo_dir`, a key file there
    is created on first use (demo mode). Without any of them: SecretKeyError.
    """
    if secret_key:
        return _decode(secret_key, "setting 'secret_key'")
    if secret_key_file:
        try:
            return _decode(Path(secret_key_file).read_text(), f"secret key file {secret_key_file}")
        except OSError as exc:
            raise SecretKeyError(f"secret key file {secret_key_file}: {exc.strerror}") from exc
    if demo_dir is not None:
        path = Path(demo_dir) / DEMO_KEY_FILENAME
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(generate_key() + "\n")
        return _decode(path.read_text(), f"demo key file {path}")
    raise SecretKeyError(
        "no secret key: set secret_key (COMET_PROVISIONING_SECRET_KEY) or secret_key_file to 32 random "
        "bytes in urlsafe base64, e.g. python -c 'import base64,os;print(base64.urlsafe_b64encode("
        "os.urandom(32)).decode())'; only --demo makes one by itself"
    )
