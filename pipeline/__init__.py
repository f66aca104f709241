"""Scrapy item pipelines, in the order declared in config/settings.py:
clean (trafilatura, in a process pool) -> dedupe -> match -> store."""
