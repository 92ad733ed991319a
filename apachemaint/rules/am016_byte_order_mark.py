"""The file starts with a UTF-8 byte order mark, which httpd does not skip.

httpd reads the mark as part of the first line: a first comment becomes
``Invalid command '\\xef\\xbb\\xbf#'`` and ``apache2 -t`` fails, and a ``<VirtualHost`` right
after the mark is no section at all (its ``</VirtualHost>`` is then "without matching").
Editors on Windows add the mark silently; save the file as UTF-8 without BOM.

Fails: a file whose first three bytes are EF BB BF, followed by ``# shop`` and a vhost.
Passes: the same file without those three bytes.
"""
from __future__ import annotations

from ..findings import Severity
from ..vhosts import find

CODE = "AM016"
SUMMARY = "file starts with a UTF-8 byte order mark (httpd rejects it)"
SEVERITY = Severity.ERROR


def check(ctx):
    # Once per file: on its first vhost.
    if ctx.cf.bom and find(ctx.cf)[0].section is ctx.vhost.section:
        yield 1, ("the file starts with a UTF-8 byte order mark, which httpd reads as part of the "
                  "first line (apache2 -t fails); save it as UTF-8 without BOM")
