"""What an order and a lifecycle request may say, checked before anything is read or written.
Pure functions: every problem of a request is collected, so the caller learns about every bad field
at once (a BadRequest naming each), not one per attempt."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from comet_provisioning.core.errors import Violations

from .model import Customer

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "Order",
    "check_order",
    "check_password",
    "check_reason",
]

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
USERNAME_MAX = 100
REASON_MAX = 500
_TEXT_LIMITS = {
    "customer.email": 320,
    "customer.first_name": 200,
    "customer.last_name": 200,
    "customer.reference": 200,
}


@dataclass(frozen=True)
class Order:
    product_id: str
    customer: Customer
    options: Mapping[str, int]
    username: str = ""
    password: str = dataclasses.field(default="", repr=False)


def _length(violations: Violations, field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        violations.add(field, f"at most {limit} characters")


def check_password(violations: Violations, field: str, password: str, *, required: bool) -> None:
    if not password:
        if required:
            violations.add(field, "required")
    elif len(password) < MIN_PASSWORD_LENGTH:
        violations.add(field, f"at least {MIN_PASSWORD_LENGTH} characters")
    elif len(password) > MAX_PASSWORD_LENGTH:
        violations.add(field, f"at most {MAX_PASSWORD_LENGTH} characters")


def check_reason(violations: Violations, reason: str) -> None:
    _length(violations, "reason", reason, REASON_MAX)


def check_order(order: Order, violations: Violations) -> None:
    """Everything about an order that needs no product (the options are checked against it)."""
    customer = order.customer
    if not order.product_id:
        violations.add("product_id", "required")
    if not (customer.email or customer.first_name or customer.reference):
        violations.add("customer", "give at least one of email, first_name or reference")
    for field, value in (
        ("customer.email", customer.email),
        ("customer.first_name", customer.first_name),
        ("customer.last_name", customer.last_name),
        ("customer.reference", customer.reference),
    ):
        _length(violations, field, value, _TEXT_LIMITS[field])
    if customer.email and ("@" not in customer.email or any(c.isspace() for c in customer.email)):
        violations.add("customer.email", "not an e-mail address")
    _length(violations, "username", order.username, USERNAME_MAX)
    check_password(violations, "password", order.password, required=False)
