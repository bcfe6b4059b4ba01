"""Secrets at rest: AES-256-GCM for Comet admin passwords, HMAC for request fingerprints.

One 32-byte master key (urlsafe base64, from the configuration or a key file) is never used
directly: HKDF derives one subkey per purpose. Each ciphertext is bound to the row it belongs to
(the associated data, e.g. the server id), so a ciphertext copied onto another row does not decrypt.

Rotation: the current key seals, previous keys only open (`previous_secret_keys`). The fingerprint
key is not derived from whichever key is current: the store keeps it sealed (store/keycheck.py), so
a rotation does not turn the retry of a request sent before it into REQUEST_ID_REUSED.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "DEMO_KEY_FILENAME",
    "SecretBox",
    "SecretKeyError",
    "SecretUnreadable",
    "generate_key",
    "load_key",
    "load_previous_keys",
]

DEMO_KEY_FILENAME = "secret.key"
_KEY_BYTES = 32
_NONCE_BYTES = 12
_FORMAT_V1 = b"\x01"


class SecretKeyError(ValueError):
    """No usable key: the message says which setting to fix (and never shows the key)."""


class SecretUnreadable(SecretKeyError):
    """A stored secret opens with none of the configured keys (`bound_to` names its row)."""

    def __init__(self, bound_to: str) -> None:
        super().__init__(f"the secret of {bound_to} opens with none of the configured secret keys")
        self.bound_to = bound_to


def _derive(master: bytes, purpose: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=None, info=purpose.encode())
    return hkdf.derive(master)


class SecretBox:
    """Encrypts short secrets with AES-GCM and fingerprints requests with HMAC-SHA256."""

    def __init__(self, master_key: bytes, previous_keys: Sequence[bytes] = ()) -> None:
        for key in (master_key, *previous_keys):
            if len(key) != _KEY_BYTES:
                raise SecretKeyError(f"the secret key must be {_KEY_BYTES} bytes")
        # Index 0 seals; every one of them opens.
        self._aeads = [
            AESGCM(_derive(key, "comet-provisioning/v1/secret-encryption"))
            for key in (master_key, *previous_keys)
        ]
        self._mac_keys = [
            _derive(key, "comet-provisioning/v1/request-fingerprint") for key in (master_key, *previous_keys)
        ]
        self._mac_key = self._mac_keys[0]

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    @property
    def key_count(self) -> int:
        return len(self._aeads)

    def encrypt(self, plaintext: str, *, bound_to: str, key_index: int = 0) -> bytes:
        """Sealed under the current key (`key_index` only for the store's own check values)."""
        nonce = os.urandom(_NONCE_BYTES)
        aead = self._aeads[key_index]
        return _FORMAT_V1 + nonce + aead.encrypt(nonce, plaintext.encode(), bound_to.encode())

    def decrypt(self, blob: bytes, *, bound_to: str) -> str:
        return self.open(blob, bound_to=bound_to)[0]

    def open(self, blob: bytes, *, bound_to: str) -> tuple[str, int]:
        """The plaintext and which key opened it (0: the current one, 1...: previous_secret_keys)."""
        if blob[:1] != _FORMAT_V1 or len(blob) < 1 + _NONCE_BYTES + 16:
            raise SecretUnreadable(bound_to)
        nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        for index, aead in enumerate(self._aeads):
            try:
                return aead.decrypt(nonce, body, bound_to.encode()).decode(), index
            except InvalidTag:
                continue
        # wrong keys, or the row was tampered with
        raise SecretUnreadable(bound_to)

    def derived_fingerprint_key(self, index: int = 0) -> bytes:
        """The fingerprint key derived from one of the configured keys (before the store held one)."""
        return self._mac_keys[index]

    def use_fingerprint_key(self, key: bytes) -> None:
        """Fingerprints from now on use `key` (the one the store keeps sealed)."""
        if len(key) != _KEY_BYTES:
            raise SecretKeyError(f"a fingerprint key must be {_KEY_BYTES} bytes")
        self._mac_key = key

    @property
    def fingerprint_key(self) -> bytes:
        return self._mac_key

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
        "bytes in urlsafe base64 (make one with `comet-provisioning gen-key`); only --demo makes its own"
    )


def load_previous_keys(keys: Sequence[str], key_files: Sequence[str]) -> list[bytes]:
    """The read-only keys of a rotation, from `previous_secret_keys` and `previous_secret_key_files`."""
    found = [_decode(key, f"setting 'previous_secret_keys'[{index}]") for index, key in enumerate(keys)]
    for path in key_files:
        try:
            found.append(_decode(Path(path).read_text(), f"previous secret key file {path}"))
        except OSError as exc:
            raise SecretKeyError(f"previous secret key file {path}: {exc.strerror}") from exc
    return found
