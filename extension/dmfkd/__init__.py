"""dmfkd: read DMF (Driver Module Framework) crash-dump data from Windows dumps and live sessions."""

__version__ = "0.1.0"
