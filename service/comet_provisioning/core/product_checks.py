"""Whether a product's module settings work on a Comet server: checked when an operator saves them.

A product places accounts on every server of its group, so each server must offer the product's
storage provider, hold its EXISTING policy group, and (for RequirePasswordChange) run Comet 20.3.4
or later. Found at order time instead, the first order would create a Comet user and then fail.
Checked when a product is created or its module settings change (against every server of its
group), and when a server joins a group (against every product of the group).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from comet_provisioning.comet.client import CometClient
from comet_provisioning.comet.errors import CometError
from comet_provisioning.comet.models import parse_version

from .comet_errors import to_service_error
from .errors import ErrorKind, FieldViolation, ServiceError
from .models import Server, describe

__all__ = ["CHECKED_SETTINGS", "Problem", "ProductSettings", "problems_on", "unreachable", "unsupported"]

REQUIRE_PASSWORD_CHANGE_FROM = (20, 3, 4)
# The module settings a server's offer can contradict; a change of anything else needs no check.
CHECKED_SETTINGS = (
    "server_group_id",
    "policy_group_mode",
    "policy_id",
    "storage_provider_id",
    "require_password_change",
)


class ProductSettings(Protocol):
    """What is checked of a product (a stored product or one about to be saved)."""

    @property
    def name(self) -> str: ...
    @property
    def policy_group_mode(self) -> str: ...
    @property
    def policy_id(self) -> str: ...
    @property
    def storage_provider_id(self) -> str: ...
    @property
    def require_password_change(self) -> bool: ...


@dataclass(frozen=True)
class Problem:
    reason: str
    setting: str  # the module setting at fault, e.g. "storage_provider_id"
    description: str
    server: Server


def _listed(found: dict[str, str]) -> str:
    return ", ".join(sorted(found)) or "none"


async def problems_on(
    client: CometClient, server: Server, products: Sequence[ProductSettings], *, timeout_s: float
) -> list[Problem]:
    """What of `products` the server cannot do; each Comet listing is read once, and only if needed.
    Raises CometError when the server does not answer."""
    wanted_providers = any(p.storage_provider_id for p in products)
    wanted_policies = any(p.policy_group_mode == "EXISTING" for p in products)
    wanted_version = any(p.require_password_change for p in products)
    providers, policies, version = await asyncio.gather(
        client.list_storage_providers(timeout_s=timeout_s) if wanted_providers else _nothing(),
        client.list_policies(timeout_s=timeout_s) if wanted_policies else _nothing(),
        client.meta_version(timeout_s=timeout_s) if wanted_version else _nothing(),
    )
    found: list[Problem] = []
    for product in products:
        at = f"product {product.name!r}: server {describe(server)}"
        if product.storage_provider_id and product.storage_provider_id not in (providers or {}):
            found.append(
                Problem(
                    "STORAGE_PROVIDER_NOT_FOUND",
                    "storage_provider_id",
                    f"{at} offers no storage provider {product.storage_provider_id!r}"
                    f" (it offers: {_listed(providers or {})})",
                    server,
                )
            )
        if product.policy_group_mode == "EXISTING" and product.policy_id not in (policies or {}):
            found.append(
                Problem(
                    "POLICY_GROUP_NOT_FOUND",
                    "policy_id",
                    f"{at} has no policy group {product.policy_id!r} (it has: {_listed(policies or {})})",
                    server,
                )
            )
        if product.require_password_change and version is not None:
            numbers = parse_version(version.version)
            if numbers is not None and numbers < REQUIRE_PASSWORD_CHANGE_FROM:
                found.append(
                    Problem(
                        "COMET_VERSION_TOO_OLD",
                        "require_password_change",
                        f"{at} runs Comet {version.version}; require_password_change needs"
                        f" {'.'.join(map(str, REQUIRE_PASSWORD_CHANGE_FROM))} or later",
                        server,
                    )
                )
    return found


async def _nothing() -> None:
    return None


def unsupported(problems: Sequence[Problem], *, field_of: dict[str, str], products: str = "") -> ServiceError:
    """FAILED_PRECONDITION naming every problem (the first one's reason and server in the metadata).
    `field_of` maps a setting to the request field reported; `products` prefixes the message."""
    first = problems[0]
    prefix = f"{products}: " if products else ""
    return ServiceError(
        ErrorKind.FAILED_PRECONDITION,
        first.reason,
        prefix + "; ".join(problem.description for problem in problems),
        metadata={
            "server_id": first.server.id,
            "server_name": first.server.display_name,
            "setting": first.setting,
            "problems": str(len(problems)),
        },
        violations=[FieldViolation(field_of[p.setting], p.description) for p in problems],
    )


def unreachable(server: Server, error: CometError) -> ServiceError:
    """A server that could not be asked: the settings cannot be checked (UNAVAILABLE: retry later,
    or FAILED_PRECONDITION when the server refuses the stored credentials)."""
    mapped = to_service_error(error, server.id)
    mapped.metadata["server_name"] = server.display_name
    return ServiceError(
        mapped.kind,
        mapped.reason,
        f"cannot check the product against Comet server {describe(server)}: {error.kind}: {error.message}",
        metadata=mapped.metadata,
    )
