"""Tests of engine.specification."""
