"""Alerts: the outbox (outbox, schedule), rendering (render, channels' messages), and
delivery (deliver) through one Transport interface (transport) with one implementation
per kind (smtp, maildir, channels) picked by the registry."""
