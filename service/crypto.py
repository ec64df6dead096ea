"""Encryption at rest for OAuth tokens and PKCE verifiers (Fernet, rotatable keys)."""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from service.config import Settings


class TokenCipher:
    """Encrypt with the first key, decrypt with any (MultiFernet), so keys can rotate."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        if not keys:
            raise ValueError("at least one Fernet key is required")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def encrypt(self, plaintext: str | None) -> bytes | None:
        """Encrypt a secret (None stays None)."""
        return None if plaintext is None else self._fernet.encrypt(plaintext.encode())

    def decrypt(self, ciphertext: bytes | None) -> str | None:
        """Decrypt a secret; raises ValueError when no key opens it."""
        if ciphertext is None:
            return None
        try:
            return self._fernet.decrypt(ciphertext).decode()
        except InvalidToken as exc:
            raise ValueError("token ciphertext does not open with any configured key") from exc

    def rotate(self, ciphertext: bytes | None) -> bytes | None:
        """Re-encrypt under the newest key."""
        return None if ciphertext is None else self._fernet.rotate(ciphertext)


@lru_cache(maxsize=8)
def _cipher(keys: tuple[str, ...]) -> TokenCipher:
    return TokenCipher(keys)


def cipher_for(settings: Settings) -> TokenCipher:
    """The cipher for the configured TOKEN_ENCRYPTION_KEY list."""
    return _cipher(settings.token_encryption_keys)
