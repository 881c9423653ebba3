"""QTS: automated trading for Korean equities."""

__version__ = "0.1.0"
