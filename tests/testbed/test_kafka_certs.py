"""Throwaway TLS material: a CA clients can load and a broker certificate it signed."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from engine.testbed.kafka.certs import ensure_tls


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tls")
    ensure_tls(directory)
    return directory


def test_the_ca_is_a_pem_file_clients_can_load(tls_dir: Path) -> None:
    context = ssl.create_default_context(cafile=str(tls_dir / "ca.pem"))
    (ca,) = context.get_ca_certs()
    assert dict(x[0] for x in ca["subject"])["commonName"] == "kafka-sinks-engine test CA"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_the_broker_certificate_is_signed_by_the_ca_for_loopback(tls_dir: Path) -> None:
    result = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(tls_dir / "ca.pem"),
            "-verify_ip",
            "127.0.0.1",
            "-purpose",
            "sslserver",
            str(tls_dir / "broker.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith(": OK")


def test_existing_material_is_reused(tls_dir: Path) -> None:
    before = (tls_dir / "ca.pem").read_bytes()
    material = ensure_tls(tls_dir)
    assert material.ca_file.read_bytes() == before
    assert material.keystore == tls_dir / "broker.p12"


def test_material_near_expiry_is_made_again(tmp_path: Path) -> None:
    material = ensure_tls(tmp_path)
    before = material.ca_file.read_bytes()
    old = time.time() - 800 * 86400
    os.utime(material.keystore, (old, old))

    again = ensure_tls(tmp_path)

    assert again.ca_file.read_bytes() != before
    assert again.keystore.stat().st_mtime > old
