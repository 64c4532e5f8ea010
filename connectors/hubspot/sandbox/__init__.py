"""A local HubSpot portal emulator (CRM v3 objects, search, properties, owners, OAuth, webhooks, cards)."""
