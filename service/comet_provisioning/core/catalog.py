"""The catalogue's rules as pure functions: configurable options, prices and the quotas they imply.

The keys, labels and units are the original module's (see the guide): `number_of_devices`,
`protected_item_quota_gb|tb`, `storage_vault_quota_gb|tb`. Quota units are binary, as the original
converts them: GB x 1024^3 and TB x 1024^4 bytes. The account lifecycle reuses `resolve_quantities`
and `effective_quotas`; the catalogue service uses `validate_product` and `quote`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import Violations
from .models import ModuleSettingsSpec, OptionSpec, Product, ProductOption, ProductSpec

__all__ = [
    "INT64_MAX",
    "OPTION_KINDS",
    "ChosenOptions",
    "EffectiveQuotas",
    "NormalizedProduct",
    "OptionKind",
    "Quote",
    "QuoteLine",
    "chosen_options",
    "effective_quotas",
    "enum_value",
    "quote",
    "resolve_quantities",
    "text_field",
    "unit_for",
    "validate_options",
    "validate_product",
]

INT64_MAX = 2**63 - 1
GIB = 1024**3
TIB = 1024**4

NAME_MAX = 100
DESCRIPTION_MAX = 1000
LABEL_MAX = 100
REFERENCE_MAX = 255  # ids of things on a Comet server (policy, storage provider)
_CURRENCY = re.compile(r"^[A-Z]{3}$")

POLICY_GROUP_MODES = ("NONE", "EXISTING", "CREATE_NEW")
SETUP_MODES = ("ON_ORDER", "MANUAL")


@dataclass(frozen=True)
class OptionKind:
    key: str
    label: str  # the original module's customer-facing label
    unit: str  # "Devices" | "GB" | "TB"
    quota: str  # what it limits: "devices" | "protected_items" | "storage_vault"
    bytes_per_unit: int  # 0 for a count
    max_quantity: int  # keeps quantity x bytes and quantity x price inside int64


OPTION_KINDS: dict[str, OptionKind] = {
    kind.key: kind
    for kind in (
        OptionKind("number_of_devices", "Devices", "Devices", "devices", 0, 1_000_000),
        OptionKind(
            "protected_item_quota_gb", "Protected Items Quota (GB)", "GB", "protected_items", GIB, 10**9
        ),
        OptionKind(
            "protected_item_quota_tb", "Protected Items Quota (TB)", "TB", "protected_items", TIB, 10**6
        ),
        OptionKind(
            "storage_vault_quota_gb", "Initial Storage Vault Quota (GB)", "GB", "storage_vault", GIB, 10**9
        ),
        OptionKind(
            "storage_vault_quota_tb", "Initial Storage Vault Quota (TB)", "TB", "storage_vault", TIB, 10**6
        ),
    )
}


def unit_for(key: str) -> str:
    return OPTION_KINDS[key].unit


def text_field(
    violations: Violations, field: str, value: str, limit: int, *, required: bool, multiline: bool = False
) -> str:
    """Trimmed text; blank-when-required, too long and control characters are violations."""
    value = value.strip()
    allowed = "\n\t" if multiline else ""
    if required and not value:
        violations.add(field, "required")
    elif len(value) > limit:
        violations.add(field, f"at most {limit} characters")
    elif any(ord(ch) < 32 and ch not in allowed for ch in value):
        violations.add(field, "must not contain control characters")
    return value


def enum_value(violations: Violations, field: str, value: str, allowed: Sequence[str], default: str) -> str:
    """Resolve an enum name: UNSPECIFIED → `default`; anything not in `allowed` is a violation."""
    if value == "UNSPECIFIED":
        return default
    if value not in allowed:
        shown = value[1:] if value.startswith("?") else value
        violations.add(field, f"unknown value {shown}; expected one of {', '.join(allowed)}")
        return default
    return value


def validate_options(
    options: Sequence[OptionSpec], violations: Violations, field: str
) -> list[ProductOption]:
    """Normalized options (labels and defaults filled in); every problem added to `violations`."""
    result: list[ProductOption] = []
    seen: dict[str, int] = {}
    quotas: dict[str, str] = {}
    for index, option in enumerate(options):
        at = f"{field}[{index}]"
        kind = OPTION_KINDS.get(option.key)
        if kind is None:
            violations.add(
                f"{at}.key", f"unknown option key {option.key!r}; expected one of {', '.join(OPTION_KINDS)}"
            )
        elif option.key in seen:
            violations.add(
                f"{at}.key", f"{option.key!r} is already option {seen[option.key]}: at most one per key"
            )
        elif kind.quota in quotas:
            violations.add(
                f"{at}.key",
                f"{option.key!r} and {quotas[kind.quota]!r} limit the same quota:"
                " use the GB or the TB variant, not both",
            )
        if kind is not None:
            seen.setdefault(option.key, index)
            quotas.setdefault(kind.quota, option.key)
        label = text_field(violations, f"{at}.label", option.label, LABEL_MAX, required=False)
        if not label and kind is not None:
            label = kind.label
        limit = kind.max_quantity if kind is not None else INT64_MAX
        if option.min_quantity < 0:
            violations.add(f"{at}.min_quantity", "must not be negative")
        if option.max_quantity < option.min_quantity:
            violations.add(f"{at}.max_quantity", f"must be at least min_quantity ({option.min_quantity})")
        elif option.max_quantity > limit:
            violations.add(f"{at}.max_quantity", f"at most {limit} for {option.key}")
        default = option.default_quantity or option.min_quantity
        if (
            option.default_quantity
            and not option.min_quantity <= option.default_quantity <= option.max_quantity
        ):
            violations.add(
                f"{at}.default_quantity",
                f"must be between min_quantity ({option.min_quantity})"
                f" and max_quantity ({option.max_quantity})",
            )
        if option.unit_price_minor < 0:
            violations.add(f"{at}.unit_price_minor", "must not be negative")
        elif option.max_quantity > 0 and option.unit_price_minor > INT64_MAX // max(option.max_quantity, 1):
            violations.add(
                f"{at}.unit_price_minor", "max_quantity x unit_price_minor does not fit in 64 bits"
            )
        result.append(
            ProductOption(
                key=option.key,
                label=label,
                min_quantity=option.min_quantity,
                max_quantity=option.max_quantity,
                default_quantity=default,
                unit_price_minor=option.unit_price_minor,
                hidden=option.hidden,
            )
        )
    return result


@dataclass(frozen=True)
class NormalizedProduct:
    """A product spec after validation: trimmed texts, enum defaults applied, options completed."""

    name: str
    description: str
    currency_code: str
    base_price_minor: int
    server_group_id: str
    policy_group_mode: str
    policy_id: str
    storage_provider_id: str
    require_password_change: bool
    setup_mode: str
    options: list[ProductOption]


def validate_product(spec: ProductSpec, violations: Violations, field: str = "product") -> NormalizedProduct:
    """Every rule that needs no database (the server group's existence is checked by the caller)."""
    name = text_field(violations, f"{field}.name", spec.name, NAME_MAX, required=True)
    description = text_field(
        violations, f"{field}.description", spec.description, DESCRIPTION_MAX, required=False, multiline=True
    )
    currency = spec.currency_code.strip()
    if not currency:
        violations.add(f"{field}.currency_code", "required")
    elif not _CURRENCY.match(currency):
        violations.add(f"{field}.currency_code", "an ISO 4217 code: three upper-case letters, e.g. USD")
    if spec.base_price_minor < 0:
        violations.add(f"{field}.base_price_minor", "must not be negative")
    settings = spec.module_settings
    at = f"{field}.module_settings"
    if settings is None:
        violations.add(at, "required")
        settings = ModuleSettingsSpec()
    elif not settings.server_group_id:
        violations.add(f"{at}.server_group_id", "required")
    mode = enum_value(
        violations, f"{at}.policy_group_mode", settings.policy_group_mode, POLICY_GROUP_MODES, "NONE"
    )
    policy_id = text_field(violations, f"{at}.policy_id", settings.policy_id, REFERENCE_MAX, required=False)
    if mode == "EXISTING" and not policy_id:
        violations.add(f"{at}.policy_id", "required with policy_group_mode EXISTING")
    elif mode != "EXISTING" and policy_id:
        violations.add(f"{at}.policy_id", f"must be empty with policy_group_mode {mode}")
    provider = text_field(
        violations, f"{at}.storage_provider_id", settings.storage_provider_id, REFERENCE_MAX, required=False
    )
    setup = enum_value(violations, f"{at}.setup_mode", settings.setup_mode, SETUP_MODES, "ON_ORDER")
    options = validate_options(spec.options, violations, f"{field}.options")
    worst = spec.base_price_minor + sum(o.max_quantity * o.unit_price_minor for o in options)
    if worst > INT64_MAX:
        violations.add(f"{field}.options", "the largest possible order total does not fit in 64 bits")
    return NormalizedProduct(
        name=name,
        description=description,
        currency_code=currency,
        base_price_minor=spec.base_price_minor,
        server_group_id=settings.server_group_id,
        policy_group_mode=mode,
        policy_id=policy_id,
        storage_provider_id=provider,
        require_password_change=settings.require_password_change,
        setup_mode=setup,
        options=options,
    )


@dataclass(frozen=True)
class ChosenOptions:
    """An order's chosen quantity per option key, and the request field they came in (for errors)."""

    quantities: dict[str, int]
    field: str


def chosen_options(options: Mapping[str, int], deprecated_quantities: Mapping[str, int]) -> ChosenOptions:
    """The option map of a request that has `options` and QuoteOrder's older name for it, `quantities`.

    Callers written against the old name keep working; a request that sends both with different
    quantities is ambiguous and refused (INVALID_ARGUMENT naming `quantities`), never guessed.
    """
    if options and deprecated_quantities and dict(options) != dict(deprecated_quantities):
        violations = Violations()
        violations.add(
            "quantities",
            "deprecated name of options, sent together with options but with different quantities; "
            "send options only",
        )
        violations.raise_if_any("CONFLICTING_OPTIONS")
    if deprecated_quantities and not options:
        return ChosenOptions(dict(deprecated_quantities), "quantities")
    return ChosenOptions(dict(options), "options")


def resolve_quantities(
    product: Product,
    requested: Mapping[str, int],
    *,
    field: str = "options",
    violations: Violations | None = None,
) -> dict[str, int]:
    """The quantity of every option of `product`: the requested ones checked, the rest defaulted.

    Raises INVALID_ARGUMENT naming `{field}[key]` for each unknown key and out-of-range quantity,
    or adds them to `violations` (for a caller that checks a whole request at once).
    """
    own = violations is None
    violations = Violations() if violations is None else violations
    options = {option.key: option for option in product.options}
    for key in requested:
        if key not in options:
            known = ", ".join(options) or "none"
            violations.add(f"{field}[{key}]", f"the product has no option {key!r} (its options: {known})")
    result: dict[str, int] = {}
    for key, option in options.items():
        quantity = requested.get(key, option.default_quantity)
        if not option.min_quantity <= quantity <= option.max_quantity:
            violations.add(
                f"{field}[{key}]",
                f"must be between {option.min_quantity} and {option.max_quantity}, got {quantity}",
            )
        result[key] = quantity
    if own:
        violations.raise_if_any("INVALID_QUANTITIES")
    return result


@dataclass(frozen=True)
class QuoteLine:
    key: str
    label: str
    quantity: int
    unit_price_minor: int
    amount_minor: int


@dataclass(frozen=True)
class Quote:
    currency_code: str
    base_price_minor: int
    lines: list[QuoteLine]
    total_minor: int


def quote(product: Product, quantities: Mapping[str, int]) -> Quote:
    """Price resolved quantities (see `resolve_quantities`): base + Σ quantity x unit price."""
    lines = [
        QuoteLine(
            key=option.key,
            label=option.label,
            quantity=quantities[option.key],
            unit_price_minor=option.unit_price_minor,
            amount_minor=quantities[option.key] * option.unit_price_minor,
        )
        for option in product.options
    ]
    total = product.base_price_minor + sum(line.amount_minor for line in lines)
    return Quote(product.currency_code, product.base_price_minor, lines, total)


@dataclass(frozen=True)
class EffectiveQuotas:
    """What an account of a product with these quantities gets on Comet.

    `max_devices` 0 means unlimited (Comet's `MaximumDevices`); a quota of None means "no limit"
    (the original module leaves a quota off when its option is absent or zero).
    """

    max_devices: int
    protected_items_quota_bytes: int | None
    storage_vault_quota_bytes: int | None
    policy_group_mode: str  # "NONE" | "EXISTING" | "CREATE_NEW"
    policy_id: str  # set with EXISTING only
    storage_provider_id: str  # "" for no initial vault
    require_password_change: bool


def effective_quotas(product: Product, quantities: Mapping[str, int]) -> EffectiveQuotas:
    """Quotas in Comet's terms for resolved quantities (GB x 1024^3, TB x 1024^4 bytes)."""
    devices = 0
    limits: dict[str, int | None] = {"protected_items": None, "storage_vault": None}
    for option in product.options:
        kind = OPTION_KINDS[option.key]
        quantity = quantities.get(option.key, option.default_quantity)
        if kind.quota == "devices":
            devices = quantity
        elif quantity > 0:
            limits[kind.quota] = quantity * kind.bytes_per_unit
    return EffectiveQuotas(
        max_devices=devices,
        protected_items_quota_bytes=limits["protected_items"],
        storage_vault_quota_bytes=limits["storage_vault"],
        policy_group_mode=product.policy_group_mode,
        policy_id=product.policy_id if product.policy_group_mode == "EXISTING" else "",
        storage_provider_id=product.storage_provider_id,
        require_password_change=product.require_password_change,
    )
