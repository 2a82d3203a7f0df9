"""The tool's version, from the installed package's metadata (pyproject.toml)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tlsaudit")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

TOOL = f"tlsaudit {__version__}"
"""How reports name the tool that wrote them."""
