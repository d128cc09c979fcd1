"""WhatsApp engines: what runs the linked accounts and emits their events (sandbox, WAHA)."""
