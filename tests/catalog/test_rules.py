"""The option rules as pure functions (reused by the account lifecycle)."""

from __future__ import annotations

import datetime as dt

import pytest
from comet_provisioning.core.catalog import (
    GIB,
    OPTION_KINDS,
    TIB,
    effective_quotas,
    quote,
    resolve_quantities,
    validate_options,
)
from comet_provisioning.core.errors import ErrorKind, ServiceError, Violations
from comet_provisioning.core.models import OptionSpec, Product, ProductOption
from hypothesis import given
from hypothesis import strategies as st

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def make_product(*options: ProductOption, mode: str = "NONE", policy_id: str = "", base: int = 0) -> Product:
    return Product(
        id="p" * 32,
        name="p",
        description="",
        currency_code="EUR",
        base_price_minor=base,
        server_group_id="g" * 32,
        policy_group_mode=mode,
        policy_id=policy_id,
        storage_provider_id="prov",
        require_password_change=True,
        setup_mode="ON_ORDER",
        options=list(options),
        create_time=NOW,
        update_time=NOW,
    )


def opt(key: str, lo: int = 0, hi: int = 100, default: int | None = None, price: int = 0) -> ProductOption:
    return ProductOption(
        key, OPTION_KINDS[key].label, lo, hi, lo if default is None else default, price, False
    )


def test_quotas_use_binary_units_and_zero_means_no_limit() -> None:
    product = make_product(
        opt("number_of_devices", 0, 10, 3),
        opt("protected_item_quota_tb", 0, 5, 2),
        opt("storage_vault_quota_gb", 0, 500, 0),
        mode="EXISTING",
        policy_id="gold",
    )
    quotas = effective_quotas(product, resolve_quantities(product, {"storage_vault_quota_gb": 250}))
    assert quotas.max_devices == 3
    assert quotas.protected_items_quota_bytes == 2 * TIB == 2 * 1024**4
    assert quotas.storage_vault_quota_bytes == 250 * GIB == 250 * 1024**3
    assert (quotas.policy_group_mode, quotas.policy_id) == ("EXISTING", "gold")
    assert quotas.storage_provider_id == "prov"
    assert quotas.require_password_change

    zero = effective_quotas(product, resolve_quantities(product, {"protected_item_quota_tb": 0}))
    assert zero.protected_items_quota_bytes is None
    assert zero.storage_vault_quota_bytes is None

    bare = effective_quotas(make_product(mode="CREATE_NEW"), {})
    assert (bare.max_devices, bare.protected_items_quota_bytes, bare.storage_vault_quota_bytes) == (
        0,
        None,
        None,
    )
    assert bare.policy_id == ""


def test_resolve_quantities_names_each_bad_key() -> None:
    product = make_product(opt("number_of_devices", 1, 5, 2), opt("storage_vault_quota_gb", 10, 20))
    assert resolve_quantities(product, {}) == {"number_of_devices": 2, "storage_vault_quota_gb": 10}
    with pytest.raises(ServiceError) as caught:
        resolve_quantities(product, {"number_of_devices": 6, "storage_vault_quota_tb": 1}, field="options")
    assert caught.value.kind is ErrorKind.INVALID_ARGUMENT
    assert {v.field for v in caught.value.violations} == {
        "options[number_of_devices]",
        "options[storage_vault_quota_tb]",
    }


def test_option_defaults_and_units() -> None:
    violations = Violations()
    options = validate_options(
        [OptionSpec(key="protected_item_quota_gb", min_quantity=5, max_quantity=9)], violations, "options"
    )
    assert not violations
    assert options[0].label == "Protected Items Quota (GB)"
    assert options[0].default_quantity == 5
    violations = Violations()
    validate_options([OptionSpec(key="number_of_devices", max_quantity=2_000_000)], violations, "options")
    assert [v.field for v in violations.items] == ["options[0].max_quantity"]


@given(
    base=st.integers(0, 10**9),
    devices=st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(0, 10**6)),
    vault=st.tuples(st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 10**6)),
    data=st.data(),
)
def test_quote_is_base_plus_lines(
    base: int, devices: tuple[int, int, int], vault: tuple[int, int, int], data: st.DataObject
) -> None:
    d_lo, d_hi = sorted(devices[:2])
    v_lo, v_hi = sorted(vault[:2])
    product = make_product(
        opt("number_of_devices", d_lo, d_hi, price=devices[2]),
        opt("storage_vault_quota_tb", v_lo, v_hi, price=vault[2]),
        base=base,
    )
    chosen = {
        "number_of_devices": data.draw(st.integers(d_lo, d_hi)),
        "storage_vault_quota_tb": data.draw(st.integers(v_lo, v_hi)),
    }
    result = quote(product, resolve_quantities(product, chosen))
    assert [line.amount_minor for line in result.lines] == [
        chosen["number_of_devices"] * devices[2],
        chosen["storage_vault_quota_tb"] * vault[2],
    ]
    assert result.total_minor == base + sum(line.amount_minor for line in result.lines)
