"""apachemaint: put web applications behind Apache httpd into maintenance mode, safely."""

__version__ = "0.1.0"

# Where the README is published (its rule table has an anchor per code: SARIF's helpUri).
HOMEPAGE = "https://pypi.org/project/apachemaint/"
