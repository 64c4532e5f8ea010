"""Pieces shared by the CRM sandboxes (Salesforce, HubSpot): server, clock, store, knobs, delivery, control."""
