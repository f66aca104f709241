"""The commands: `newswatch` parses its arguments in `main` and hands each command to its
module here (crawl, match and explain, send, status, recent, upkeep, the demo)."""
