"""``sinks test``: sample events in ``*.test.yaml`` run through the mapping the
runtime uses, with no servers (``runner`` runs the cases, ``cases`` reads them).
"""
