"""Shared fixtures live in tests/fixtures/, one module per concern, loaded as plugins."""

pytest_plugins = [
    "tests.fixtures.db",
    "tests.fixtures.sim",
    "tests.fixtures.service",
]
