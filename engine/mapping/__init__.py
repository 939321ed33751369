"""Record → Kafka message mapping, pure and server-free.

``filters`` plans the subscription (and emulates the server's filter),
``jsonpath`` filters on the record object, ``partition_key`` and ``headers``
build the key and headers, ``transformer`` runs user JavaScript, ``pipeline``
puts them together in ``Mapper``; ``configtest`` runs ``*.test.yaml`` cases.
"""
