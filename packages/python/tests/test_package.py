"""Every generated module imports, and the package's typing marker and version are in place."""

from __future__ import annotations

import importlib.resources

import cqc
from cqc.registry import generated_modules, message_class, message_names


def test_every_generated_module_imports() -> None:
    modules = generated_modules()
    assert "cqc.assets.v1.asset_pb2" in modules
    assert "cqc.types.v1.rules_pb2" in modules


def test_every_message_resolves_to_a_class() -> None:
    names = message_names()
    assert "cqc.assets.v1.Asset" in names and "cqc.assets.v1.Chain" in names
    for name in names:
        assert message_class(name).DESCRIPTOR.full_name == name


def test_unknown_message_name_is_a_clear_error() -> None:
    try:
        message_class("cqc.assets.v1.Nope")
    except KeyError as error:
        assert "cqc.assets.v1.Nope" in str(error)
    else:
        raise AssertionError("expected KeyError")


def test_package_is_typed_and_versioned() -> None:
    assert importlib.resources.files("cqc").joinpath("py.typed").is_file()
    assert cqc.__version__.count(".") == 2
