"""SSH public keys, as people paste them (`ssh-ed25519 AAAA... comment`)."""

from __future__ import annotations

import base64
import binascii
import hashlib

KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-rsa",
)


def parse_public_key(text: str) -> tuple[str, str]:
    """The key in canonical form (type and data, comment dropped) and its SHA256 fingerprint;
    ValueError saying what is wrong."""
    parts = text.strip().split()
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise ValueError(f"not an SSH public key; expected '{KEY_TYPES[0]} AAAA... comment'")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the key's data is not valid base64") from None
    length = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
    if blob[4 : 4 + length].decode("ascii", "replace") != parts[0]:
        raise ValueError(f"the key's data is not a {parts[0]} key")
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"{parts[0]} {parts[1]}", f"SHA256:{digest}"
