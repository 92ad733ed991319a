"""Checkpoints: a copy of every file apachemaint is about to change, and the way back.

Backups go to a checkpoint folder rather than beside the file: Apache configs are often
included by glob or by whole directory (``Include conf.d/``), where a ``.bak`` next to the
vhost would be loaded as config.  The folder is ``$APACHEMAINT_STATE_DIR/checkpoints``
(default ``/var/lib/apachemaint`` for root, ``$XDG_STATE_HOME/apachemaint`` otherwise), one
sub-folder per run with a ``manifest.json``; ``apachemaint restore`` puts the files back.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import ApacheMaintError
from .safewrite import write_atomic


def state_dir() -> Path:
    if os.environ.get("APACHEMAINT_STATE_DIR"):
        return Path(os.environ["APACHEMAINT_STATE_DIR"])
    if os.geteuid() == 0:
        return Path("/var/lib/apachemaint")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "apachemaint"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Change:
    path: Path  # the real file, links resolved
    before: bytes
    after: bytes


def create(changes: list[Change]) -> Path:
    root = state_dir() / "checkpoints"
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        n = 1
        while True:
            folder = root / f"{stamp}-{n}"
            try:
                folder.mkdir(mode=0o700)
                break
            except FileExistsError:
                n += 1
    except OSError as exc:
        raise ApacheMaintError(f"cannot create a checkpoint: {exc.strerror} "
                               "(set APACHEMAINT_STATE_DIR to a writable folder)", root) from None
    entries = []
    for i, ch in enumerate(changes, 1):
        name = f"{i:04d}-{ch.path.name}"
        write_atomic(folder / name, ch.before, mode=0o600)
        entries.append({"path": str(ch.path), "backup": name,
                        "sha256_before": _sha(ch.before), "sha256_after": _sha(ch.after)})
    manifest = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "files": entries}
    write_atomic(folder / "manifest.json", json.dumps(manifest, indent=2).encode(), mode=0o600)
    return folder


def all_checkpoints() -> list[Path]:
    root = state_dir() / "checkpoints"
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if (p / "manifest.json").is_file()),
                  key=lambda p: (p.name.split("-")[0], int(p.name.split("-")[-1])))


def restore(checkpoint: Path | None = None, *, force: bool = False) -> list[Path]:
    """Put back every file of a checkpoint (the newest by default).

    A file changed since apachemaint wrote it is left alone unless ``force``: restoring
    over someone's later edit would lose it.
    """
    if checkpoint is None:
        found = all_checkpoints()
        if not found:
            raise ApacheMaintError("no checkpoint to restore", state_dir() / "checkpoints")
        checkpoint = found[-1]
    try:
        manifest = json.loads((checkpoint / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise ApacheMaintError(f"not a readable checkpoint: {exc}", checkpoint) from None
    plans = []
    for entry in manifest["files"]:
        path = Path(entry["path"])
        backup = (checkpoint / entry["backup"]).read_bytes()
        try:
            now = path.read_bytes()
        except FileNotFoundError:
            now = None
        if now is not None and _sha(now) not in (entry["sha256_after"], entry["sha256_before"]) and not force:
            raise ApacheMaintError("changed since apachemaint patched it; not restored "
                                   "(use --force to restore anyway)", path)
        plans.append((path, backup))
    for path, backup in plans:
        write_atomic(path, backup)
    return [p for p, _ in plans]
