"""The one exception family of apachemaint.

Every error a user can cause carries the file and line it is about, so the CLI can print
``FILE:LINE: message`` and exit 2 without a traceback.
"""
from __future__ import annotations

from pathlib import Path


class ApacheMaintError(Exception):
    """Base of every error apachemaint reports to a user."""

    def __init__(self, message: str, file: str | Path | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line

    def __reduce__(self):
        # Pickled with file and line (a server check sends errors from a second process).
        return type(self), (self.message, self.file, self.line)

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        return where + self.message


class ConfigSyntaxError(ApacheMaintError):
    """A config file httpd itself would reject (unclosed or mismatched section, missing '>')."""


class InvalidOption(ApacheMaintError):
    """A value given by the user that would break the generated configuration."""


class UnsafeWrite(ApacheMaintError):
    """A write refused or failed because it could lose or misplace the user's bytes."""


class ConfigTestFailed(ApacheMaintError):
    """Apache rejected the configuration after an edit; the edit was rolled back."""


class BlockError(ApacheMaintError):
    """A managed maintenance block that cannot be understood (e.g. BEGIN without END)."""
