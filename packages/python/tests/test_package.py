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


def test_every_service_has_grpc_stub_and_servicer() -> None:
    import importlib

    from google.protobuf import descriptor_pool

    pool = descriptor_pool.Default()
    services = []
    for module in generated_modules():
        file_descriptor = pool.FindFileByName(module.replace(".", "/").removesuffix("_pb2") + ".proto")
        for service in file_descriptor.services_by_name.values():
            grpc_module = importlib.import_module(module + "_grpc")
            assert hasattr(grpc_module, f"{service.name}Stub"), service.full_name
            assert hasattr(grpc_module, f"{service.name}Servicer"), service.full_name
            services.append(service.name)
    assert sorted(services) == ["AssetRegistry", "MarketData", "Portfolio", "RiskEngine", "VenueGateway"]


def test_gitattributes_marks_every_generated_python_folder() -> None:
    from pathlib import Path

    import cqc as package

    root = Path(package.__file__).parent
    attributes = (Path(__file__).resolve().parents[3] / ".gitattributes").read_text()
    generated = sorted(
        p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").read_text().startswith("# Code generated")
    )
    assert "assets" in generated and "_gen" in generated
    for name in generated:
        assert f"packages/python/src/cqc/{name}/** linguist-generated=true" in attributes, name
