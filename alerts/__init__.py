"""Alerts: the outbox, rendering (jinja2 templates) and delivery (yagmail SMTP, maildir).
Not built yet: matches are not produced until the watches issue lands."""
