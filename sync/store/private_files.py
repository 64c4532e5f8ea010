"""Pipewise's own files (var/: the database, keys, the embedded Redis) readable by its user only."""
from __future__ import annotations

import os
from pathlib import Path


def private_dir(path: Path) -> Path:
    """Create the directory (and parents) if needed, and make it 0700."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> Path:
    """Create an empty file 0600 if it does not exist yet, and make it 0600 if it does.

    A missing parent is created 0700; an existing one is left as it is (it may be shared, /tmp).
    """
    path = Path(path)
    if not path.parent.exists():
        private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    os.chmod(path, 0o600)
    return path
