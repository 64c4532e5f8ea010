"""Pieces shared by the CRM sandboxes: server, clock, store, knobs, delivery, control, and the datasets' seed rules."""
