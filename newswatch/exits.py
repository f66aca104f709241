"""The exit codes every command shares (SPEC §3)."""

EXIT_OK = 0
# something did not happen: a source failed, a message was not sent, a daemon is already
# running
EXIT_FAILED = 1
EXIT_USAGE = 2  # a bad config or bad usage: nothing was tried
