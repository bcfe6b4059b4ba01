"""`serve --demo` keeps to itself: its own data directory, never the service's database, loopback only."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.service import ServiceProcess, free_port, service_env
from tests.startup.support import fatal_line, run


def _service(tmp_path: Path, *args: str, **env: str) -> ServiceProcess:
    return ServiceProcess(
        address=f"127.0.0.1:{free_port()}",
        data_dir=tmp_path,
        log_path=tmp_path / "service.log",
        env=service_env(tmp_path / "data", **env),
        args=args,
    )


def _start_and_stop(service: ServiceProcess) -> None:
    try:
        service.start()
    finally:
        service.stop()
    assert service.wait() == 0


def test_the_demo_keeps_its_state_out_of_the_data_directory(tmp_path: Path) -> None:
    _start_and_stop(_service(tmp_path, "--demo"))
    assert not (tmp_path / "data").exists()
    assert (tmp_path / "data-demo" / "comet-provisioning.sqlite3").exists()
    assert (tmp_path / "data-demo" / "demo-comet-state.json").exists()
    elsewhere = tmp_path / "somewhere-else"
    _start_and_stop(_service(tmp_path, "--demo", COMET_PROVISIONING_DEMO_DATA_DIR=str(elsewhere)))
    assert (elsewhere / "comet-provisioning.sqlite3").exists()


def test_the_demo_refuses_the_services_database_and_the_service_the_demos(tmp_path: Path) -> None:
    service_db = f"sqlite:///{tmp_path / 'service.sqlite3'}"
    _start_and_stop(_service(tmp_path, COMET_PROVISIONING_DATABASE_URL=service_db))
    refused = run(
        ["serve", "--demo", "--listen", f"127.0.0.1:{free_port()}"],
        service_env(tmp_path / "data", COMET_PROVISIONING_DATABASE_URL=service_db),
        tmp_path,
    )
    assert refused.returncode == 2
    assert "--demo refuses database sqlite+aiosqlite:///" in fatal_line(refused)["message"]

    demo_db = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    _start_and_stop(_service(tmp_path, "--demo", COMET_PROVISIONING_DATABASE_URL=demo_db))
    refused = run(
        ["serve", "--listen", f"127.0.0.1:{free_port()}"],
        service_env(tmp_path / "data", COMET_PROVISIONING_DATABASE_URL=demo_db),
        tmp_path,
    )
    assert refused.returncode == 2
    assert "holds the demo's state" in fatal_line(refused)["message"]


def test_the_demo_refuses_a_non_loopback_address(tmp_path: Path) -> None:
    done = run(
        ["serve", "--demo", "--listen", f"0.0.0.0:{free_port()}"], service_env(tmp_path / "data"), tmp_path
    )
    assert done.returncode == 2
    assert "--demo listens on loopback addresses only" in fatal_line(done)["message"]
    assert not (tmp_path / "data-demo").exists()
