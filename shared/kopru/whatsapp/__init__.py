"""WhatsApp Business through Meta's WhatsApp Cloud API: sending (the 24-hour window and
consent rules, once per message), Meta's webhook (statuses applied once, inbound messages
opening the window). Rules in `service`, request bodies in `models`."""
