"""Secrets are masked by key, everywhere they could be logged; every call is observed."""

from __future__ import annotations

import json
import logging

import pytest
from comet_provisioning.comet import MASK, CometUserNotFound, redact_form, redact_json
from comet_provisioning.comet.redact import is_sensitive_key
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes.memory_comet import MemoryComet

from .support import ADMIN_PASSWORD, RecordingObserver, memory_client

USER_SECRET = "hunter2-user-secret"
S3_SECRET = "AKIA-secret-value-42"


def test_mask_is_fixed() -> None:
    assert MASK == "***"
    short = redact_form({"Password": "x"})
    long = redact_form({"Password": "y" * 500})
    assert short["Password"] == long["Password"] == "***"


@pytest.mark.parametrize(
    "key",
    [
        "Password",
        "TargetPassword",
        "NewPassword",
        "OldPassword",
        "SessionKey",
        "TOTP",
        "PasswordHash",
        "PasswordRecovery",
        "SecretKey",
        "AccessToken",
        "totpKey",
        "RecoveryCode",
    ],
)
def test_sensitive_keys(key: str) -> None:
    assert is_sensitive_key(key)


@pytest.mark.parametrize(
    "key", ["Username", "TargetUser", "AuthType", "ProfileData", "Description", "Emails"]
)
def test_ordinary_keys(key: str) -> None:
    assert not is_sensitive_key(key)


def test_redact_form_masks_nested_json_by_key() -> None:
    profile = {
        "Username": "alice",
        "PasswordHash": "bcrypt$...",
        "Destinations": {
            "d1": {"Description": "S3", "S3SecretKey": S3_SECRET, "Extra": [{"AuthToken": "tok"}]},
        },
        "Emails": [USER_SECRET],  # a value that merely looks secret stays: masking is by key
    }
    form = {
        "Username": "admin",
        "AuthType": "Password",
        "Password": ADMIN_PASSWORD,
        "TargetUser": "alice",
        "ProfileData": json.dumps(profile),
        "NewPassword": USER_SECRET,
    }

    safe = redact_form(form)

    assert safe["Password"] == MASK
    assert safe["NewPassword"] == MASK
    assert safe["Username"] == "admin"
    assert safe["TargetUser"] == "alice"
    inner = json.loads(safe["ProfileData"])
    assert inner["PasswordHash"] == MASK
    assert inner["Destinations"]["d1"]["S3SecretKey"] == MASK
    assert inner["Destinations"]["d1"]["Extra"][0]["AuthToken"] == MASK
    assert inner["Destinations"]["d1"]["Description"] == "S3"
    assert inner["Emails"] == [USER_SECRET]
    assert S3_SECRET not in json.dumps(safe)
    assert form["Password"] == ADMIN_PASSWORD  # the original is not modified


def test_unparseable_json_field_is_masked_whole() -> None:
    assert redact_form({"ProfileData": '{"Password": "oops'})["ProfileData"] == MASK


def test_redact_json_lists() -> None:
    assert redact_json([{"SessionKey": "k", "n": 1}]) == [{"SessionKey": MASK, "n": 1}]


async def test_debug_log_is_redacted(comet: MemoryComet, caplog: pytest.LogCaptureFixture) -> None:
    comet.state.seed_user("alice")
    profile = {"Username": "alice", "Destinations": {"d1": {"SecretKey": S3_SECRET}}}
    caplog.set_level(logging.DEBUG, logger="comet_provisioning.comet")
    async with memory_client(comet) as client:
        await client.set_user_profile("alice", profile)
    assert comet.state.users["alice"].profile["Destinations"]["d1"]["SecretKey"] == S3_SECRET

    records = [r for r in caplog.records if r.name == "comet_provisioning.comet"]
    assert records
    record = records[-1]
    form = record.comet_form  # type: ignore[attr-defined]
    assert form["Password"] == MASK
    assert json.loads(form["ProfileData"])["Destinations"]["d1"]["SecretKey"] == MASK
    assert record.comet_call["endpoint"] == "set-user-profile"  # type: ignore[attr-defined]
    everything = caplog.text + repr([r.__dict__ for r in caplog.records])
    assert ADMIN_PASSWORD not in everything
    assert S3_SECRET not in everything


async def test_observer_gets_one_record_per_call(comet: MemoryComet) -> None:
    observer = RecordingObserver()
    comet.state.seed_user("alice")
    async with memory_client(comet, observer=observer) as client:
        await client.list_users()
        with pytest.raises(CometUserNotFound):
            await client.get_user_profile("ghost")

    first, second = observer.records
    assert (first.server_id, first.endpoint, first.outcome, first.http_status, first.api_status) == (
        "srv-1",
        "list-users",
        "ok",
        200,
        None,
    )
    assert (second.endpoint, second.outcome, second.http_status, second.api_status) == (
        "get-user-profile",
        "user_not_found",
        200,
        400,
    )
    assert first.duration_s >= 0
    assert first.pool_wait_s == 0


async def test_a_failing_observer_does_not_break_calls(comet: MemoryComet) -> None:
    class Broken:
        def on_call(self, record: object) -> None:
            raise RuntimeError("observer bug")

    comet.state.seed_user("alice")
    async with memory_client(comet, observer=Broken()) as client:
        assert await client.list_users() == ["alice"]


SECRET_MARK = "s3cr3t-MARK"
_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5))
_keys = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["Password", "xTOKENx", "sessionKey", "Recovery", "my_secret", "TOTP", "Description"]),
)
_json = st.recursive(
    _json_leaf,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=4),
    max_leaves=30,
)


def _plant(value: object) -> object:
    """Put the secret mark under every sensitive key of a generated document."""
    if isinstance(value, dict):
        return {k: SECRET_MARK if is_sensitive_key(k) else _plant(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plant(v) for v in value]
    return value


@settings(max_examples=60, deadline=None)
@given(_json)
def test_no_value_under_a_sensitive_key_survives_redaction(document: object) -> None:
    planted = _plant(document)
    redacted = redact_json(planted)
    assert SECRET_MARK not in json.dumps(redacted)
    form = redact_form({"ProfileData": json.dumps({"root": planted}), "Username": "u"})
    assert SECRET_MARK not in json.dumps(form)
    assert _shape(redacted) == _shape(planted)  # only values change, never the structure


def _shape(value: object) -> object:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return None
