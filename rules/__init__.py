"""The rule engine: the query language of watches (query), the normalization that
articles and queries share (normalize), the one-pass matcher (matcher) and the
explanations and snippets of a match (snippets)."""
