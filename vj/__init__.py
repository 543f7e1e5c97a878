"""vj: a live-performance VJ instrument: generated dreams played like an instrument."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # __version__ is read from the installed metadata (pyproject.toml's version) on first use only:
    # importlib.metadata costs about 25 ms, and every child process imports vj.
    if name == "__version__":
        from importlib import metadata

        try:
            return metadata.version("vj")
        except metadata.PackageNotFoundError:  # a checkout on sys.path that was never installed
            return "0+unknown"
    raise AttributeError(f"module 'vj' has no attribute {name!r}")
