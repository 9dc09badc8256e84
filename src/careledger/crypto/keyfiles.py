"""Files that hold key material: written private to their owner, refused when they are not.

A key file (an organisation's root key, a member's key, a TLS private key, a NATS nkey seed, the
FHIR holder secret) is created with mode 0600 in a directory created with mode 0700, from the
first byte (no window in which it is readable by others). Reading one whose mode lets its group
or anyone else read or write it raises :class:`InsecureKeyFile`, naming the file and the fix:
a key another account could have copied is no longer a secret, and refusing to use it is the
only way to make its owner notice.

Not for: what the keys are (:mod:`careledger.crypto.keys`), or secrets that never touch a file
(the FHIR master key comes from the environment).
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
from pathlib import Path

from careledger.errors import CryptoError, InvalidInput

FILE_MODE = 0o600
DIR_MODE = 0o700


class InsecureKeyFile(CryptoError):
    """A key file readable or writable by its group or others."""


def private_dir(path: Path) -> Path:
    """``path`` as a directory, created (with missing parents) mode 0700 when it is new."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        directory.mkdir(mode=DIR_MODE, exist_ok=True)
    return path


def write_secret(path: Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` mode 0600 (its directory 0700 if new); an existing file is
    truncated and its mode tightened before anything is written."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), FILE_MODE)
        out.write(data.encode() if isinstance(data, str) else data)
    return path


def check_private(path: Path) -> Path:
    """``path`` if only its owner may read and write it; :class:`InsecureKeyFile` otherwise
    (a missing file raises :class:`FileNotFoundError`)."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise InsecureKeyFile(
            f"{path} holds key material but its mode is {mode:04o} (readable or writable by "
            f"group or others); run `chmod 600 {path}` after checking nobody copied it"
        )
    return path


def read_secret(path: Path) -> bytes:
    """The bytes of the key file ``path``, after :func:`check_private`."""
    return check_private(path).read_bytes()


def secret_file(path: Path, *, min_bytes: int = 16) -> bytes:
    """The base64url secret in ``path``, created (32 random bytes, mode 0600, directory 0700)
    on first use; refused when others may read it (:class:`InsecureKeyFile`), and
    :class:`~careledger.errors.InvalidInput` when it does not decode to ``min_bytes`` or more."""
    try:
        text = read_secret(path).decode().strip()
    except FileNotFoundError:
        text = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        write_secret(path, text + "\n")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path} does not hold a base64url secret") from exc
    try:
        secret = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as exc:
        raise InvalidInput(f"{path} does not hold a base64url secret") from exc
    if len(secret) < min_bytes:
        raise InvalidInput(f"{path}: the secret needs at least {min_bytes} bytes")
    return secret
