"""What differs between the Pythons apachemaint supports (3.9 to 3.13), in one place."""
from __future__ import annotations

import sys

# dataclass(slots=True) is 3.10+; slots keep 100,000 parsed directives small where they exist.
SLOTS: dict = {"slots": True} if sys.version_info >= (3, 10) else {}


def tomllib():
    """The standard tomllib (3.11+) or tomli, the backport it was made from (same API)."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib
    return tomllib
