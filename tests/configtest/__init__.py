"""Tests of engine.configtest."""
