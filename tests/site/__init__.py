"""The fixture news site the tests crawl: written for these tests, served on 127.0.0.1."""
