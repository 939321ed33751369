"""Throwaway TLS material for the test broker, made with Java's ``keytool``.

Guarantees: ``ensure_tls(dir)`` leaves in ``dir`` a private CA (``ca.pem``, PEM, for
clients' ``ssl.ca.location``) and a PKCS12 broker keystore whose certificate is
signed by that CA and valid for ``localhost`` and ``127.0.0.1``. Material already
present (and not near expiry) is reused, so a restarted broker keeps the certificate
clients trust; by default brokers share one set in the user cache, because making
it costs seven JVM launches. A file lock keeps concurrent brokers from racing.
Nothing here is meant to protect anything: the keys are readable by any local user
of the cache and the broker only listens on loopback.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from engine.specification.errors import EngineError

STORE_PASSWORD = "testbed-store-pass"
VALIDITY_DAYS = "825"
RENEW_AFTER_DAYS = 700


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    ca_file: Path  # PEM, what clients trust
    keystore: Path  # PKCS12 with the broker key and its chain
    password: str


class CertificateError(EngineError):
    """keytool is missing or refused one of the steps."""


def _keytool(*args: str) -> None:
    exe = shutil.which("keytool")
    if exe is None:
        raise CertificateError("Java's 'keytool' is not on PATH")
    # keytool runs for a fraction of a second: skip the optimising compiler.
    result = subprocess.run(
        [exe, "-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise CertificateError(f"keytool {args[0]} failed: {result.stdout}{result.stderr}")


def _fresh(material: TlsMaterial) -> bool:
    if not (material.ca_file.is_file() and material.keystore.is_file()):
        return False
    age_days = (time.time() - material.keystore.stat().st_mtime) / 86400
    return age_days < RENEW_AFTER_DAYS


def ensure_tls(directory: Path) -> TlsMaterial:
    directory.mkdir(parents=True, exist_ok=True)
    material = TlsMaterial(
        ca_file=directory / "ca.pem",
        keystore=directory / "broker.p12",
        password=STORE_PASSWORD,
    )
    if _fresh(material):
        return material
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _fresh(material):  # another process may have made it meanwhile
            _generate(directory, material)
    return material


def _generate(directory: Path, material: TlsMaterial) -> None:
    ca_store = directory / "ca.p12"
    csr = directory / "broker.csr"
    signed = directory / "broker.pem"
    for stale in (ca_store, csr, signed, material.ca_file, material.keystore):
        stale.unlink(missing_ok=True)
    store = ["-storetype", "PKCS12", "-storepass", STORE_PASSWORD]
    _keytool(
        "-genkeypair",
        "-alias",
        "ca",
        "-dname",
        "CN=kafka-sinks-engine test CA",
        "-ext",
        "bc:c",
        "-keyalg",
        "RSA",
        "-keysize",
        "2048",
        "-validity",
        VALIDITY_DAYS,
        "-keystore",
        str(ca_store),
        *store,
    )
    _keytool(
        "-exportcert",
        "-rfc",
        "-alias",
        "ca",
        "-keystore",
        str(ca_store),
        *store,
        "-file",
        str(material.ca_file),
    )
    broker_store = ["-keystore", str(material.keystore), *store]
    _keytool(
        "-genkeypair",
        "-alias",
        "broker",
        "-dname",
        "CN=localhost",
        "-keyalg",
        "RSA",
        "-keysize",
        "2048",
        "-validity",
        VALIDITY_DAYS,
        *broker_store,
    )
    _keytool("-certreq", "-alias", "broker", "-file", str(csr), *broker_store)
    # librdkafka checks the host name by default, so the SAN must carry the IP clients dial.
    _keytool(
        "-gencert",
        "-alias",
        "ca",
        "-keystore",
        str(ca_store),
        *store,
        "-infile",
        str(csr),
        "-outfile",
        str(signed),
        "-rfc",
        "-validity",
        VALIDITY_DAYS,
        "-ext",
        "SAN=dns:localhost,ip:127.0.0.1",
        "-ext",
        "KU=digitalSignature,keyEncipherment",
        "-ext",
        "EKU=serverAuth",
    )
    _keytool(
        "-importcert",
        "-noprompt",
        "-alias",
        "ca",
        "-file",
        str(material.ca_file),
        *broker_store,
    )
    _keytool("-importcert", "-alias", "broker", "-file", str(signed), *broker_store)
    csr.unlink(missing_ok=True)
