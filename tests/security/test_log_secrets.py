"""No secret reaches a log line or a caller: tokens, Comet admin passwords, end-user passwords."""

from __future__ import annotations

import ast
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import pytest
from comet_provisioning import logs
from comet_provisioning.api import auth as auth_module
from comet_provisioning.logs import JsonFormatter, TextFormatter
from comet_provisioning.sim import CometSimulator
from comet_provisioning_client.v1 import accounts_pb2, servers_pb2

from tests.fixtures.logs import log_capture
from tests.fixtures.sim import SIM_ADMIN, SIM_PASSWORD
from tests.security.conftest import TOKENS, Stubs, bearer

API = Path(auth_module.__file__).parent
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "log"}


def _logging_calls(tree: ast.AST) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in LOG_METHODS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id.lower() in {"log", "logger", "logging"}
        ):
            yield node


@pytest.mark.parametrize("source", sorted(API.glob("*.py")), ids=lambda p: p.name)
def test_api_never_logs_a_request_body_or_metadata(source: Path) -> None:
    """A request message or the call's metadata would carry passwords and tokens into the log."""
    tree = ast.parse(source.read_text())
    for call in _logging_calls(tree):
        for arg in [*call.args, *(kw.value for kw in call.keywords)]:
            for node in ast.walk(arg):
                if isinstance(node, ast.Name):
                    assert node.id not in {"request", "requests", "metadata"}, (source.name, call.lineno)
                if isinstance(node, ast.Attribute):
                    assert node.attr not in {"invocation_metadata", "auth_context"}, (
                        source.name,
                        call.lineno,
                    )


def test_formatters_carry_the_caller_but_never_a_token_header() -> None:
    secret = "tok-" + "s3cr3t" * 4
    with log_capture(formatters=(JsonFormatter(), TextFormatter())) as stream:
        refused = auth_module.Authenticator([], [])
        log = logging.getLogger("comet_provisioning.auth")
        with logs.bind(caller="billing", rpc="/x/Y"):
            for header in (f"Bearer {secret}", f"Basic {secret}", secret):
                try:
                    refused.authenticate("/x/Y", [("authorization", header)], {})
                except Exception as exc:
                    log.warning(
                        "call refused", extra={"reason": getattr(exc, "reason", ""), "peer": "ipv4:1"}
                    )
                    log.warning("message: %s", exc)
    text = stream.getvalue()
    assert "billing" in text
    assert "INVALID_TOKEN" in text
    assert secret not in text


async def test_no_secret_in_logs_or_replies_through_the_service(
    service: Stubs, comet_sim: CometSimulator
) -> None:
    end_user_password = "EndUser-" + "Pw9" * 5
    wrong_admin_password = "Wrong-Admin-" + "Pw7" * 4
    stray_token = "stray-" + "tok3n" * 5
    url = urlsplit(comet_sim.base_url)
    connection = servers_pb2.ServerConnection(
        protocol=servers_pb2.PROTOCOL_HTTP,
        host=url.hostname or "",
        port=url.port or 0,
        admin_username=SIM_ADMIN,
        admin_password=SIM_PASSWORD,
    )
    replies: list[str] = []
    admin = bearer("admin")
    with log_capture(formatters=(JsonFormatter(), TextFormatter())) as stream:
        group = await service.servers.CreateServerGroup(
            servers_pb2.CreateServerGroupRequest(server_group=servers_pb2.ServerGroup(name="g")),
            metadata=admin,
        )
        created = await service.servers.CreateServer(
            servers_pb2.CreateServerRequest(
                server=servers_pb2.Server(
                    display_name="sim", server_group_id=group.server_group.id, connection=connection
                )
            ),
            metadata=admin,
        )
        replies.append(str(created))
        bad = servers_pb2.ServerConnection()
        bad.CopyFrom(connection)
        bad.admin_password = wrong_admin_password
        tested = await service.servers.TestConnection(
            servers_pb2.TestConnectionRequest(connection=bad), metadata=admin
        )
        replies.append(str(tested))
        replies.append(
            str(await service.servers.ListServers(servers_pb2.ListServersRequest(), metadata=admin))
        )
        for metadata in (
            bearer("provisioner"),
            (("authorization", f"Bearer {stray_token}"),),
            bearer("viewer"),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await service.accounts.ChangePassword(
                    accounts_pb2.ChangePasswordRequest(id="acc-missing", new_password=end_user_password),
                    metadata=metadata,
                )
            replies.append(f"{caught.value.details()} {caught.value.trailing_metadata()}")
    text = stream.getvalue()
    assert "rpc finished" in text  # the capture saw the service's lines
    everything = text + "\n".join(replies)
    for secret in (SIM_PASSWORD, wrong_admin_password, end_user_password, stray_token, *TOKENS.values()):
        assert secret not in everything, secret
