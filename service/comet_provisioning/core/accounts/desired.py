"""From a product and an account's quantities to the profile Comet should hold."""

from __future__ import annotations

from collections.abc import Mapping

from comet_provisioning.core.catalog import effective_quotas
from comet_provisioning.core.models import Product

from .profile import DesiredProfile, created_policy_id

VAULT_OPTION_PREFIX = "storage_vault_quota_"


def policy_id_for(product: Product) -> str:
    if product.policy_group_mode == "CREATE_NEW":
        return created_policy_id(product.id)
    if product.policy_group_mode == "EXISTING":
        return product.policy_id
    return ""


def desired_profile(product: Product, quantities: Mapping[str, int]) -> DesiredProfile:
    """The original's "apply restrictions", with one repair: a vault quota option set to 0 lifts
    the vault limits instead of leaving an old limit in place after a downgrade to "none"."""
    quotas = effective_quotas(product, quantities)
    has_vault_option = any(option.key.startswith(VAULT_OPTION_PREFIX) for option in product.options)
    vault_quota = quotas.storage_vault_quota_bytes
    if vault_quota is None and has_vault_option:
        vault_quota = 0
    return DesiredProfile(
        max_devices=quotas.max_devices,
        protected_items_quota_bytes=quotas.protected_items_quota_bytes or 0,
        vault_quota_bytes=vault_quota,
        policy_id=policy_id_for(product),
    )
