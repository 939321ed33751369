"""Bounded evaluation of user code: regexes with a time bound per search, JavaScript
transformers in embedded V8 with time and heap limits.

Generic pieces: they know nothing of sinks, files or servers, only the errors of
``engine.specification``. Validation (config) and mapping both use them.
"""
