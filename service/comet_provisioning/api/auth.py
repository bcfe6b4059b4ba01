"""Who may call what: bearer tokens or client certificates give a caller a role; each method needs one.

Tokens are configured only as hashes (`sha256:<hex>` of the token) and a presented token is hashed
and compared with every configured hash in constant time. A client certificate has already been
verified against `tls_client_ca_file` by the TLS layer; its subject CN and SANs are looked up in
`client_certs`. A bearer token, when present, decides alone (a wrong token is refused even on a
connection with a good certificate).

Roles include one another: admin ⊃ provisioner ⊃ viewer. Every method of the three services is
listed in `METHOD_ROLES`; a method missing from it is refused for everyone, so a new RPC cannot go
out unprotected by accident (a unit test checks the map against the proto descriptors). Health is
always open; reflection is open when `reflection_public` is set, otherwise it needs any role.

The checks run inside the wrapped handler, not in `intercept_service`, because only the servicer
context knows the peer's certificate and can end the call with a rich status.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from comet_provisioning_client.v1 import accounts_pb2, catalog_pb2, servers_pb2
from google.protobuf.descriptor import ServiceDescriptor

from comet_provisioning import logs
from comet_provisioning.api.errors import abort
from comet_provisioning.config import ROLE_NAMES, ClientCertEntry, Settings, TokenEntry
from comet_provisioning.core.errors import ErrorKind, ServiceError

from .handlers import Context, Handler, Layer, StreamBehaviour, UnaryBehaviour, wrap_handler

log = logging.getLogger("comet_provisioning.auth")

__all__ = [
    "METHOD_ROLES",
    "SERVICE_DESCRIPTORS",
    "AuthInterceptor",
    "Authenticator",
    "Caller",
    "Role",
    "hash_token",
]


class Role(enum.IntEnum):
    """A caller's role; a higher role may call everything a lower one may."""

    VIEWER = 1
    PROVISIONER = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, name: str) -> Role:
        return cls[name.upper()]


assert tuple(r.label for r in Role) == ROLE_NAMES  # config validates role names with ROLE_NAMES

SERVICE_DESCRIPTORS: tuple[ServiceDescriptor, ...] = (
    servers_pb2.DESCRIPTOR.services_by_name["ServerService"],
    catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"],
    accounts_pb2.DESCRIPTOR.services_by_name["AccountService"],
)

_V = "/comet.provisioning.v1."
_SERVERS = _V + "ServerService/"
_CATALOG = _V + "CatalogService/"
_ACCOUNTS = _V + "AccountService/"

# The role each method needs. Reads are viewer; anything that changes an account, talks to Comet on
# an account's behalf or hands out a customer's session/installer is provisioner; servers, groups,
# products, admin sign-on, import and TestConnection (which sends credentials to any address the
# caller names) are admin.
METHOD_ROLES: Mapping[str, Role] = {
    # ServerService
    _SERVERS + "CreateServer": Role.ADMIN,
    _SERVERS + "GetServer": Role.VIEWER,
    _SERVERS + "ListServers": Role.VIEWER,
    _SERVERS + "UpdateServer": Role.ADMIN,
    _SERVERS + "DeleteServer": Role.ADMIN,
    _SERVERS + "TestConnection": Role.ADMIN,
    _SERVERS + "ListPolicyGroups": Role.VIEWER,
    _SERVERS + "ListStorageProviders": Role.VIEWER,
    _SERVERS + "CreateServerGroup": Role.ADMIN,
    _SERVERS + "GetServerGroup": Role.VIEWER,
    _SERVERS + "ListServerGroups": Role.VIEWER,
    _SERVERS + "UpdateServerGroup": Role.ADMIN,
    _SERVERS + "DeleteServerGroup": Role.ADMIN,
    _SERVERS + "CreateAdminSession": Role.ADMIN,
    # CatalogService
    _CATALOG + "CreateProduct": Role.ADMIN,
    _CATALOG + "GetProduct": Role.VIEWER,
    _CATALOG + "ListProducts": Role.VIEWER,
    _CATALOG + "UpdateProduct": Role.ADMIN,
    _CATALOG + "DeleteProduct": Role.ADMIN,
    _CATALOG + "QuoteOrder": Role.VIEWER,
    # AccountService
    _ACCOUNTS + "CreateAccount": Role.PROVISIONER,
    _ACCOUNTS + "ProvisionAccount": Role.PROVISIONER,
    _ACCOUNTS + "GetAccount": Role.VIEWER,
    _ACCOUNTS + "ListAccounts": Role.VIEWER,
    _ACCOUNTS + "SuspendAccount": Role.PROVISIONER,
    _ACCOUNTS + "UnsuspendAccount": Role.PROVISIONER,
    _ACCOUNTS + "TerminateAccount": Role.PROVISIONER,
    _ACCOUNTS + "ChangePassword": Role.PROVISIONER,
    _ACCOUNTS + "ChangePackage": Role.PROVISIONER,
    _ACCOUNTS + "SyncUsage": Role.PROVISIONER,
    _ACCOUNTS + "CreateLoginSession": Role.PROVISIONER,
    _ACCOUNTS + "DownloadClient": Role.PROVISIONER,
    _ACCOUNTS + "ImportAccounts": Role.ADMIN,
    _ACCOUNTS + "ListAccountEvents": Role.VIEWER,
}

_HEALTH = "/grpc.health.v1.Health/"
_REFLECTION = ("/grpc.reflection.v1alpha.ServerReflection/", "/grpc.reflection.v1.ServerReflection/")


@dataclass(frozen=True)
class Caller:
    """Who is calling: the token's or certificate's configured name, its role, and how it proved it."""

    name: str
    role: Role
    via: str  # "token", "certificate" or "none" (authentication off)


_ANONYMOUS = Caller("anonymous", Role.ADMIN, "none")  # every caller while authentication is off


def hash_token(token: str) -> str:
    """The configuration form of a token: `sha256:<hex>`. Tokens are random, so one round suffices."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def _unauthenticated(reason: str, message: str, method: str) -> ServiceError:
    return ServiceError(ErrorKind.UNAUTHENTICATED, reason, message, metadata={"method": method})


class Authenticator:
    """Turns a call's metadata and peer certificate into a `Caller`, or refuses it."""

    def __init__(self, tokens: Iterable[TokenEntry], client_certs: Iterable[ClientCertEntry]) -> None:
        self._tokens = [
            (bytes.fromhex(t.hash.removeprefix("sha256:")), Caller(t.name, Role.parse(t.role), "token"))
            for t in tokens
        ]
        self._certs = {c.name: Caller(c.name, Role.parse(c.role), "certificate") for c in client_certs}

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator | None:
        """None when nothing could authenticate a caller (authentication off)."""
        if not settings.tokens and not settings.tls_client_ca_file:
            return None
        return cls(settings.tokens, settings.client_certs)

    def authenticate(
        self,
        method: str,
        metadata: Iterable[tuple[str, str | bytes]] | None,
        auth_context: Mapping[str, Iterable[bytes]] | None,
    ) -> Caller:
        header = _authorization(metadata)
        if header is not None:
            return self._by_token(method, header)
        identities = _cert_identities(auth_context)
        if identities:
            return self._by_certificate(method, identities)
        raise _unauthenticated(
            "MISSING_CREDENTIALS",
            "this method needs credentials: an `authorization: Bearer <token>` header "
            "or a client certificate",
            method,
        )

    def _by_token(self, method: str, header: str) -> Caller:
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _unauthenticated(
                "INVALID_TOKEN", "the authorization header must be `Bearer <token>`", method
            )
        digest = hashlib.sha256(token.encode()).digest()
        found: Caller | None = None
        for expected, caller in self._tokens:  # no early exit: every hash is compared
            if hmac.compare_digest(digest, expected):
                found = caller
        if found is None:
            raise _unauthenticated("INVALID_TOKEN", "the bearer token is not recognised", method)
        return found

    def _by_certificate(self, method: str, identities: Sequence[str]) -> Caller:
        matches = [self._certs[name] for name in identities if name in self._certs]
        if not matches:
            raise _unauthenticated(
                "UNKNOWN_CLIENT_CERTIFICATE",
                "the client certificate's subject is not given a role (client_certs)",
                method,
            )
        return max(matches, key=lambda caller: caller.role)


def _authorization(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    for key, value in metadata or ():
        if key == "authorization":
            return value if isinstance(value, str) else value.decode("latin-1")
    return None


def _cert_identities(auth_context: Mapping[str, Iterable[bytes]] | None) -> list[str]:
    if not auth_context:
        return []
    names: list[str] = []
    for key in ("x509_common_name", "x509_subject_alternative_name"):
        for raw in auth_context.get(key, ()):
            name = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            if name and name not in names:
                names.append(name)
    return names


def authorize(caller: Caller, method: str) -> None:
    """Raises PERMISSION_DENIED unless the caller's role covers the method."""
    needed = METHOD_ROLES.get(method)
    if needed is None:
        raise ServiceError(
            ErrorKind.PERMISSION_DENIED,
            "METHOD_NOT_MAPPED",
            "no role is allowed to call this method",
            metadata={"method": method},
        )
    if caller.role < needed:
        raise ServiceError(
            ErrorKind.PERMISSION_DENIED,
            "ROLE_REQUIRED",
            f"{method} needs the {needed.label} role; {caller.name!r} has {caller.role.label}",
            metadata={"method": method, "role": needed.label, "caller_role": caller.role.label},
        )


class AuthInterceptor(Layer):
    """Authenticates and authorizes every call except health (and reflection when public).

    With no `authenticator` (authentication off, loopback or demo only) every call is let through
    as the caller "anonymous".
    """

    def __init__(self, authenticator: Authenticator | None, *, reflection_public: bool = True) -> None:
        super().__init__()
        self.authenticator = authenticator
        self.reflection_public = reflection_public

    def _check(self, method: str, context: Context) -> Caller:
        if self.authenticator is None:
            return _ANONYMOUS
        caller = self.authenticator.authenticate(
            method, context.invocation_metadata(), context.auth_context()
        )
        if method.startswith(_REFLECTION):
            return caller  # any role may read the schema
        authorize(caller, method)
        return caller

    async def _refuse(self, method: str, context: Context, err: ServiceError) -> NoReturn:
        log.warning(
            "call refused",
            extra={"rpc": method, "code": err.kind.value, "reason": err.reason, "peer": context.peer()},
        )
        await abort(context, err)

    def wrap(self, method: str, handler: Handler) -> Handler:
        if method.startswith(_HEALTH):
            return handler
        if method.startswith(_REFLECTION) and (self.reflection_public or self.authenticator is None):
            return handler

        def unary(behaviour: UnaryBehaviour) -> UnaryBehaviour:
            async def run(request: Any, context: Context) -> Any:
                try:
                    caller = self._check(method, context)
                except ServiceError as err:
                    await self._refuse(method, context, err)
                with logs.bind(caller=caller.name):
                    return await behaviour(request, context)

            return run

        def stream(behaviour: StreamBehaviour) -> StreamBehaviour:
            async def run(request: Any, context: Context) -> AsyncIterator[Any]:
                try:
                    caller = self._check(method, context)
                except ServiceError as err:
                    await self._refuse(method, context, err)
                with logs.bind(caller=caller.name):
                    async for item in behaviour(request, context):
                        yield item

            return run

        return wrap_handler(handler, unary, stream)
