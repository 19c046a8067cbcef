"""Helpers shared by the tests: tiny models, CLI runners, process checks."""
