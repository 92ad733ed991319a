# Installed as the package data ``apachemaint.templates`` (see pyproject.toml), so that a
# non-editable install finds the templates next to the code.
