"""`newswatch demo`: a news site of its own on 127.0.0.1, crawled, matched and alerted
end to end (SPEC §7)."""
