"""The platform edge: adapters behind one interface, signed webhooks, inbound storage, the outbox
sender, the pollers, the message log."""
