"""wahooks: WhatsApp events delivered to your webhooks, signed, retried and logged."""

__version__ = "0.1.0"
