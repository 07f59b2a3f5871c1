"""Helpers shared by tests: small models and images made on the fly."""
