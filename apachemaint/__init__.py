"""apachemaint: put web applications behind Apache httpd into maintenance mode, safely."""

__version__ = "0.1.0"
