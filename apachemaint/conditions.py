"""Which ``<IfModule>`` and ``<IfDefine>`` sections httpd would read, given what is loaded.

httpd names a module two ways: by its source file (``mod_rewrite.c``) and by its identifier
(``rewrite_module``).  Both are reduced to one key (``rewrite``) so that a ``LoadModule`` and
an ``<IfModule>`` written either way compare equal.
"""
from __future__ import annotations

from .reader import Section

# Sections whose truth depends on things this reader does not model (the httpd version,
# which directives exist, files on disk): taken as true, as the reader does.
_ALWAYS_TRUE = {"ifversion", "ifdirective", "iffile", "ifsection"}


def module_key(name: str) -> str:
    n = name.strip().strip("\"'").lower()
    if n.startswith("mod_") and n.endswith(".c"):
        return n[4:-2]
    if n.endswith(".c"):
        return n[:-2]
    if n.endswith("_module"):
        return n[:-7]
    return n


def holds(section: Section, modules: set[str] | None, defines: set[str] | None) -> bool:
    """Whether httpd reads the section's body.  ``None`` means "not known": then it is read."""
    name = section.lname
    if name in _ALWAYS_TRUE or not section.args:
        return True
    arg = section.args[0]
    negate = arg.startswith("!")
    arg = arg[1:] if negate else arg
    if name == "ifmodule":
        if modules is None:
            return True
        return (module_key(arg) in modules) != negate
    if name == "ifdefine":
        if defines is None:
            return True
        return (arg in defines) != negate
    return True
