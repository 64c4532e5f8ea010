"""Encryption of token sets at rest with MultiFernet (rotation without downtime)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class TokenCipher:
    """Encrypts with the first key, decrypts with any: put a new key first to rotate."""

    def __init__(self, keys: list[str]):
        if not keys:
            raise ValueError("at least one encryption key is required")
        self._fernet = MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])

    @classmethod
    def from_config(cls, config) -> "TokenCipher":
        """Keys from PIPEWISE_ENCRYPTION_KEYS, or a key file generated under var/ for local runs."""
        if config.ENCRYPTION_KEYS:
            return cls([k.strip() for k in config.ENCRYPTION_KEYS.split(",") if k.strip()])
        return cls(load_or_create_key_file(Path(config.VAR_DIR) / "encryption.keys"))

    def encrypt_json(self, value: dict) -> bytes:
        """Encrypt a JSON-serializable value."""
        return self._fernet.encrypt(json.dumps(value, sort_keys=True).encode())

    def decrypt_json(self, token: bytes) -> dict:
        """Decrypt what encrypt_json produced; raise ValueError when no key fits."""
        try:
            return json.loads(self._fernet.decrypt(token))
        except InvalidToken as exc:
            raise ValueError(
                "A stored token set cannot be decrypted with the configured keys: "
                "keep the old key in PIPEWISE_ENCRYPTION_KEYS (after the new one) until rotation is done."
            ) from exc

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt a token under the first key."""
        return self._fernet.rotate(token)


def load_or_create_key_file(path: Path) -> list[str]:
    """Read the local key file, creating it with a fresh key (mode 0600) on the first run."""
    from sync.store.private_files import private_dir

    private_dir(path.parent)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(Fernet.generate_key().decode() + "\n")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]
