"""Test support: harnesses, writers, ports, fixtures and fakes shared by the tests."""
