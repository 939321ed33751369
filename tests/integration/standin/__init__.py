"""Conformance tests of the KurrentDB-protocol stand-in, driven through esdbclient."""
