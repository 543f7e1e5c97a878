"""vj: a live-performance VJ instrument: generated dreams played like an instrument."""

__version__ = "0.1.0"
