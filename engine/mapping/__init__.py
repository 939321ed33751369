"""Record → Kafka message mapping, pure and server-free.

``filters`` plans the subscription (and emulates the server's filter),
``jsonpath`` filters on the record object, ``partition_key`` and ``headers``
build the key and headers, ``pipeline`` puts them together in ``Mapper`` (running
the user's JavaScript through ``engine.sandbox.transformer``).
"""
