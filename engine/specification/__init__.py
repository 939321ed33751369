"""The ground layer: what a sink is, independent of any server.

Errors, diagnostics and the sink model, constants and exit codes, TimeSpans, the
settings tables reader and the typed settings built from them, and the names the
engine gives to what it creates. Every other layer imports it; it imports none.
"""
