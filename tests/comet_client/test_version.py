"""``CometVersion``: tolerant parsing, ordering, and each behaviour switch at its release boundary."""

from __future__ import annotations

import pytest
from comet_provisioning.comet import CometVersion, MetaVersion, parse_version


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("25.9.0", (25, 9, 0)),
        (" 25.9.0 ", (25, 9, 0)),
        ("24.12.2-rc1", (24, 12, 2)),
        ("v22.3", (22, 3, 0)),
        ("21", (21, 0, 0)),
        ("21.9.10", (21, 9, 10)),
    ],
)
def test_parse_is_tolerant(text: str, numbers: tuple[int, int, int]) -> None:
    version = CometVersion.parse(text)
    assert (version.major, version.minor, version.patch) == numbers
    assert str(version) == text.strip()


@pytest.mark.parametrize("text", ["", "dev", "Voyager 25", "..1"])
def test_parse_refuses_text_without_a_number(text: str) -> None:
    with pytest.raises(ValueError, match="not a Comet version"):
        CometVersion.parse(text)
    assert parse_version(text) is None
    assert MetaVersion(version=text, raw={}).comet_version is None


def test_ordering_is_numeric_and_ignores_the_text() -> None:
    assert CometVersion.parse("21.9.10") > CometVersion.parse("21.9.9")
    assert CometVersion.parse("22.3.7") == CometVersion.parse(" 22.3.7-beta")
    assert sorted(CometVersion.parse(t) for t in ("25.6.8", "20.3.4", "22.12.8")) == [
        CometVersion(20, 3, 4),
        CometVersion(22, 12, 8),
        CometVersion(25, 6, 8),
    ]
    assert CometVersion(20, 3, 5).at_least("20.3.5")
    assert not CometVersion(20, 3, 4).at_least("20.3.5")


SWITCHES = [
    ("require_password_change", "20.3.3", "20.3.4"),
    ("uninstall_config", "20.3.4", "20.3.5"),
    ("organizations", "22.3.6", "22.3.7"),
    ("username_filter", "22.6.6", "22.6.7"),
    ("profile_in_write_replies", "25.6.7", "25.6.8"),
]


@pytest.mark.parametrize(("switch", "before", "from_"), SWITCHES, ids=[s[0] for s in SWITCHES])
def test_each_switch_turns_on_at_its_release(switch: str, before: str, from_: str) -> None:
    assert getattr(CometVersion.parse(before), switch) is False
    assert getattr(CometVersion.parse(from_), switch) is True
    assert getattr(CometVersion.parse("18.9.2"), switch) is False
    assert getattr(CometVersion.parse("25.9.0"), switch) is True


@pytest.mark.parametrize(("text", "length"), [("18.9.2", 6), ("21.9.9", 6), ("21.9.10", 1), ("25.9.0", 1)])
def test_min_username_length(text: str, length: int) -> None:
    assert CometVersion.parse(text).min_username_length == length


@pytest.mark.parametrize(
    ("text", "may_be_403"),
    [("20.8.9", False), ("20.9.0", True), ("22.3.99", True), ("22.4.0", False), ("25.9.0", False)],
)
def test_user_not_found_may_be_403(text: str, may_be_403: bool) -> None:
    assert CometVersion.parse(text).user_not_found_may_be_403 is may_be_403


def test_meta_version_exposes_the_parsed_release() -> None:
    meta = MetaVersion(version="22.6.7", raw={"Version": "22.6.7"})
    assert meta.comet_version == CometVersion(22, 6, 7)
    assert meta.version_tuple == (22, 6, 7)
