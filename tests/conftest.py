"""Fixtures shared by every test package."""

pytest_plugins = ["odyssai_testbed.fixtures"]
