"""newswatch: the command line, the one-off crawl runner, the daemon and the demo."""

__version__ = "0.2.0"
