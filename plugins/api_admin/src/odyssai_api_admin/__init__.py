"""Admin API and dashboard: /admin/<cluster>/load, unload, status, events."""
