"""Mail: messages on the wire, SMTP, and the durable outbox that sends them."""
