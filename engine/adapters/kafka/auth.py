"""How a Kafka client authenticates: ``Authentication`` → librdkafka keys, written once.

Guarantees:

* ``authentication_config`` is the only mapping from the engine's authentication
  values to librdkafka keys; a sink's producer (``SinkSettings``) and a group member
  (``ClusterConnection``) both go through it, so both treat the same settings alike.
* SASL keys appear only with a SASL protocol, ``ssl.ca.location`` only with a TLS one;
  without a CA file it is ``probe``: the wheels link OpenSSL statically, so the system
  trust store is found by probing the usual paths.
"""

from __future__ import annotations

from typing import Any

from engine.specification.settings import Authentication, SaslMechanism, SecurityProtocol

_PROTOCOLS = {
    SecurityProtocol.PLAINTEXT: "plaintext",
    SecurityProtocol.SSL: "ssl",
    SecurityProtocol.SASL_PLAINTEXT: "sasl_plaintext",
    SecurityProtocol.SASL_SSL: "sasl_ssl",
}
_MECHANISMS = {
    SaslMechanism.PLAIN: "PLAIN",
    SaslMechanism.SCRAM_SHA_256: "SCRAM-SHA-256",
    SaslMechanism.SCRAM_SHA_512: "SCRAM-SHA-512",
}
_SASL = (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL)
_TLS = (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL)

# Every key ``authentication_config`` may write.
AUTHENTICATION_KEYS = (
    "security.protocol",
    "sasl.mechanism",
    "sasl.username",
    "sasl.password",
    "ssl.ca.location",
)


def authentication_config(auth: Authentication) -> dict[str, Any]:
    """librdkafka keys for authenticating with ``auth`` (see the module docstring)."""
    config: dict[str, Any] = {"security.protocol": _PROTOCOLS[auth.security_protocol]}
    if auth.security_protocol in _SASL:
        config["sasl.mechanism"] = _MECHANISMS[auth.sasl_mechanism]
        if auth.username is not None:
            config["sasl.username"] = auth.username
        if auth.password is not None:
            config["sasl.password"] = auth.password
    if auth.security_protocol in _TLS:
        config["ssl.ca.location"] = auth.ca_file or "probe"
    return config
