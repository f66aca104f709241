"""Scrapy spiders built from the config's sources: feeds, sitemaps, listing pages and
site discovery find article links; article pages go to the pipeline unparsed."""
