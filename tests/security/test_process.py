"""The command an operator runs: --demo says how it is exposed, --metrics-listen serves /metrics."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.service import ServiceProcess, free_port, grpcurl, service_env


def test_demo_announces_plaintext_and_metrics_listen_serves(tmp_path: Path) -> None:
    metrics_port = free_port()
    service = ServiceProcess(
        address=f"127.0.0.1:{free_port()}",
        data_dir=tmp_path,
        log_path=tmp_path / "service.log",
        env=service_env(tmp_path),
        args=("--demo", "--metrics-listen", f"127.0.0.1:{metrics_port}"),
    )
    try:
        service.start()
        grpcurl(service.address, "comet.provisioning.v1.ServerService/ListServers", {})
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as reply:
            body = reply.read().decode()
        handled = [
            sample
            for family in text_string_to_metric_families(body)
            for sample in family.samples
            if sample.name == "grpc_server_handled_total"
            and sample.labels["grpc_method"] == "ListServers"
            and sample.labels["grpc_code"] == "OK"
        ]
        assert [sample.value for sample in handled] == [1.0]
        log = service.log_path.read_text()
        assert f"demo: grpcurl -plaintext {service.address} list" in log
        assert "PLAINTEXT" in log
    finally:
        service.stop()
