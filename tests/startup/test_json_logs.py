"""With log_format=json every line the service writes is JSON, gRPC core's own lines included;
TLS handshake failures are the service's own line, at most one per interval."""

from __future__ import annotations

import logging
import sys
import threading
import time
import warnings
from pathlib import Path

import grpc
import pytest
from comet_provisioning import logs
from comet_provisioning.native_stderr import HandshakeFailures
from grpc_health.v1.health_pb2 import HealthCheckRequest
from grpc_health.v1.health_pb2_grpc import HealthStub

from tests.fixtures.pki import TestCA
from tests.fixtures.service import free_port, service_env
from tests.startup.support import json_lines, serving


def test_every_line_is_json_when_clients_fail_the_tls_handshake(tmp_path: Path) -> None:
    (tmp_path / "pki").mkdir()
    server = TestCA(tmp_path / "pki").issue("comet-provisioning.test", server=True)
    port = free_port()
    env = service_env(
        tmp_path,
        COMET_PROVISIONING_LISTEN=f"127.0.0.1:{port}",
        COMET_PROVISIONING_TLS_CERT_FILE=str(server.cert_file),
        COMET_PROVISIONING_TLS_KEY_FILE=str(server.key_file),
    )
    with serving([], env, tmp_path) as log_path:
        for _ in range(5):  # a client speaking plaintext to the TLS listener
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                with pytest.raises(grpc.RpcError):
                    HealthStub(channel).Check(HealthCheckRequest(), timeout=1)
        deadline = time.monotonic() + 10
        while "TLS handshake failed" not in log_path.read_text():
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
    entries = json_lines(log_path.read_text())
    handshakes = [entry for entry in entries if entry["message"].startswith("TLS handshake failed")]
    assert len(handshakes) == 1  # the first at once; the rest are folded into the next line
    assert handshakes[0]["level"] == "warning"
    assert handshakes[0]["failures"] == 1
    assert "WRONG_VERSION_NUMBER" in handshakes[0]["detail"]


def test_handshake_failures_are_one_line_per_interval_with_their_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    failures = HandshakeFailures(interval_s=60.0, clock=lambda: now[0])
    with caplog.at_level("WARNING", logger="comet_provisioning.tls"):
        failures.seen("first")
        for _ in range(9):
            now[0] += 1.0
            failures.seen("again")
        failures.flush()
        assert [r.__dict__["failures"] for r in caplog.records] == [1]
        now[0] = 161.0
        failures.flush()  # the interval passed: the folded ones are reported
        assert [r.__dict__["failures"] for r in caplog.records] == [1, 9]
        now[0] = 300.0
        failures.flush()  # nothing new, nothing written
        assert len(caplog.records) == 2


def test_python_warnings_and_stray_exceptions_become_log_records(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)  # restored afterwards
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    logs.capture_stray_output()
    try:
        with caplog.at_level("WARNING"):
            warnings.warn("an old call", DeprecationWarning, stacklevel=1)

            def fail() -> None:
                raise RuntimeError("in a thread")

            worker = threading.Thread(target=fail, name="worker-1")
            worker.start()
            worker.join()
    finally:
        logging.captureWarnings(False)
    messages = [record.getMessage() for record in caplog.records]
    assert any("an old call" in message for message in messages)
    assert "exception in thread worker-1" in messages
