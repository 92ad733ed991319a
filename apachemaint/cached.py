"""``cached_property`` without the lock that Python 3.11's takes on every first access.

A server-wide check computes a few cached facts for each of tens of thousands of vhosts;
3.11's version serialises each first access through a lock (removed in 3.12), which cost
a tenth of the rules' time.  Same semantics otherwise: computed on first access, stored
in the instance's ``__dict__``, which then shadows the descriptor.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

if sys.version_info >= (3, 12):
    from functools import cached_property
else:
    class cached_property:  # noqa: N801 - named as the functools original it stands in for
        def __init__(self, fn: Callable[[Any], Any]):
            self.fn = fn
            self.name = fn.__name__
            self.__doc__ = fn.__doc__

        def __set_name__(self, owner: type, name: str) -> None:
            self.name = name

        def __get__(self, obj: Any, owner: type | None = None) -> Any:
            if obj is None:
                return self
            value = obj.__dict__[self.name] = self.fn(obj)
            return value

__all__ = ["cached_property"]
