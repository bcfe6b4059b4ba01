"""The role map, token hashing and matching, certificate identities: no server needed."""

from __future__ import annotations

import contextlib
import hashlib
import hmac

import pytest
from comet_provisioning.api import auth
from comet_provisioning.api.auth import (
    METHOD_ROLES,
    SERVICE_DESCRIPTORS,
    Authenticator,
    Caller,
    Role,
    authorize,
    hash_token,
)
from comet_provisioning.config import ROLE_NAMES, ClientCertEntry, TokenEntry
from comet_provisioning.core.errors import ErrorKind, ServiceError

from tests.security.support import all_methods, path

M = "/comet.provisioning.v1.AccountService/GetAccount"


def test_every_method_in_the_proto_descriptors_is_mapped_and_nothing_else() -> None:
    described = {path(method) for method in all_methods()}
    assert len(described) == sum(len(s.methods) for s in SERVICE_DESCRIPTORS) > 30
    assert described - METHOD_ROLES.keys() == set(), "unmapped methods would be refused to everyone"
    assert METHOD_ROLES.keys() - described == set(), "stale entries"


def test_the_issue_s_role_split() -> None:
    admin = {m.rsplit("/", 1)[1] for m, r in METHOD_ROLES.items() if r is Role.ADMIN}
    assert {
        "CreateServer",
        "UpdateServer",
        "DeleteServer",
        "CreateServerGroup",
        "UpdateServerGroup",
        "DeleteServerGroup",
        "CreateProduct",
        "UpdateProduct",
        "DeleteProduct",
        "CreateAdminSession",
        "ImportAccounts",
        "TestConnection",
    } == admin
    viewer = {m.rsplit("/", 1)[1] for m, r in METHOD_ROLES.items() if r is Role.VIEWER}
    assert all(name.startswith(("Get", "List")) or name == "QuoteOrder" for name in viewer)
    for name in ("CreateLoginSession", "DownloadClient", "CreateAccount", "TerminateAccount", "SyncUsage"):
        assert METHOD_ROLES[f"/comet.provisioning.v1.AccountService/{name}"] is Role.PROVISIONER


def test_roles_nest_and_match_the_configuration_names() -> None:
    assert Role.VIEWER < Role.PROVISIONER < Role.ADMIN
    assert tuple(role.label for role in Role) == ROLE_NAMES


def test_an_unmapped_method_is_refused_even_to_admin() -> None:
    with pytest.raises(ServiceError) as caught:
        authorize(Caller("root", Role.ADMIN, "token"), "/comet.provisioning.v1.AccountService/Shiny")
    assert caught.value.kind is ErrorKind.PERMISSION_DENIED
    assert caught.value.reason == "METHOD_NOT_MAPPED"


def test_hash_token_is_sha256_hex() -> None:
    assert hash_token("abc") == "sha256:" + hashlib.sha256(b"abc").hexdigest()


def _authenticator() -> Authenticator:
    return Authenticator(
        [
            TokenEntry("ops", hash_token("t-admin"), "admin"),
            TokenEntry("billing", hash_token("t-prov"), "provisioner"),
            TokenEntry("support", hash_token("t-view"), "viewer"),
        ],
        [ClientCertEntry("billing.internal", "provisioner"), ClientCertEntry("ops.internal", "admin")],
    )


@pytest.mark.parametrize(
    ("header", "name", "role"),
    [
        ("Bearer t-admin", "ops", Role.ADMIN),
        ("bearer t-prov", "billing", Role.PROVISIONER),
        ("BEARER   t-view  ", "support", Role.VIEWER),
    ],
)
def test_tokens_map_to_their_caller(header: str, name: str, role: Role) -> None:
    caller = _authenticator().authenticate(M, [("authorization", header)], {})
    assert (caller.name, caller.role, caller.via) == (name, role, "token")


def test_every_configured_hash_is_compared_whichever_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    authenticator = _authenticator()
    for header in ("Bearer t-admin", "Bearer t-view", "Bearer nothing"):
        calls.clear()
        with contextlib.suppress(ServiceError):
            authenticator.authenticate(M, [("authorization", header)], {})
        assert len(calls) == 3, header


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ([], "MISSING_CREDENTIALS"),
        ([("x-api-key", "t-admin")], "MISSING_CREDENTIALS"),
        ([("authorization", "Basic dDphZG1pbg==")], "INVALID_TOKEN"),
        ([("authorization", "Bearer ")], "INVALID_TOKEN"),
        ([("authorization", "Bearer T-ADMIN")], "INVALID_TOKEN"),
    ],
)
def test_missing_or_bad_credentials(metadata: list[tuple[str, str]], reason: str) -> None:
    with pytest.raises(ServiceError) as caught:
        _authenticator().authenticate(M, metadata, {"transport_security_type": [b"insecure"]})
    assert caught.value.kind is ErrorKind.UNAUTHENTICATED
    assert caught.value.reason == reason
    assert "t-admin" not in caught.value.message.lower()


def test_certificate_identities_from_cn_or_san_highest_role_wins() -> None:
    authenticator = _authenticator()
    by_cn = authenticator.authenticate(M, [], {"x509_common_name": [b"billing.internal"]})
    assert (by_cn.name, by_cn.role, by_cn.via) == ("billing.internal", Role.PROVISIONER, "certificate")
    both = authenticator.authenticate(
        M,
        [],
        {
            "x509_common_name": [b"billing.internal"],
            "x509_subject_alternative_name": [b"ops.internal", b"billing.internal"],
        },
    )
    assert both.role is Role.ADMIN
    with pytest.raises(ServiceError) as caught:
        authenticator.authenticate(M, [], {"x509_common_name": [b"nobody"]})
    assert caught.value.reason == "UNKNOWN_CLIENT_CERTIFICATE"


def test_role_required_error_names_the_role_and_method() -> None:
    with pytest.raises(ServiceError) as caught:
        authorize(
            Caller("support", Role.VIEWER, "token"), "/comet.provisioning.v1.ServerService/CreateServer"
        )
    err = caught.value
    assert err.kind is ErrorKind.PERMISSION_DENIED
    assert err.reason == "ROLE_REQUIRED"
    assert err.metadata == {
        "method": "/comet.provisioning.v1.ServerService/CreateServer",
        "role": "admin",
        "caller_role": "viewer",
    }
