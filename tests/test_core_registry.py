"""Unit tests of medsr_bench.core.registry.Registry (name, type check, aliases, order, lazy entries,
one duplicate error)."""

import types

import pytest

from medsr_bench.core.registry import DuplicateError, Registry, RegistryError, import_submodules


def test_register_get_aliases_and_order():
    reg: Registry[int] = Registry("number", kind=int, order=("two", "one"))
    reg.register("one", 1, aliases=("uno",))
    reg.register("three", 3)
    reg.register("two", 2)
    assert reg.get("uno") == 1 and reg.resolve("uno") == "one"
    assert reg.names() == ["two", "one", "three"]  # canonical order first, then registration order
    assert "uno" in reg and "four" not in reg and len(reg) == 3
    assert reg.items() == [("two", 2), ("one", 1), ("three", 3)]


def test_one_duplicate_error_for_names_and_aliases():
    reg: Registry[int] = Registry("number", kind=int)
    reg.register("one", 1, aliases=("uno",))
    for name, aliases in (("one", ()), ("uno", ()), ("eins", ("uno",)), ("x", ("one",))):
        with pytest.raises(DuplicateError, match="already registered"):
            reg.register(name, 5, aliases=aliases)
    reg.register("one", 11, replace=True)
    assert reg.get("uno") == 11


def test_type_check_and_unknown_name():
    reg: Registry[int] = Registry("number", kind=int)
    with pytest.raises(TypeError, match="number 'a': expected int, got str"):
        reg.register("a", "1")  # type: ignore[arg-type]
    reg.register("a", 1)
    with pytest.raises(RegistryError, match="unknown number 'b'; known: a") as e:
        reg.get("b")
    assert isinstance(e.value, KeyError)


def test_lazy_entry_imported_and_checked_on_first_get():
    reg: Registry = Registry("function", kind=types.FunctionType)
    reg.register_lazy("dumps", "json:dumps")
    assert reg._entries["dumps"] == "json:dumps"  # not imported yet
    import json
    assert reg.get("dumps") is json.dumps
    bad: Registry = Registry("class", kind=type)
    bad.register_lazy("dumps", "json:dumps")
    with pytest.raises(TypeError, match="expected type"):
        bad.get("dumps")
    with pytest.raises(ValueError, match="module:attr"):
        bad.register_lazy("x", "json.dumps")


def test_loader_runs_once_before_first_lookup():
    calls = []
    reg: Registry[int] = Registry("number", kind=int)
    reg.add_loader(lambda: calls.append(1) or reg.register("one", 1))
    assert reg.names() == ["one"] and reg.names() == ["one"] and calls == [1]


def test_decorator_and_unregister():
    reg: Registry = Registry("class", kind=type)

    @reg.decorator(aliases=("F",))
    class Foo:
        pass

    assert reg.get("F") is Foo
    reg.unregister("Foo")
    assert "F" not in reg and reg.names() == []


def test_dict_like_keys_values():
    reg: Registry[int] = Registry("number", kind=int, order=("b",))
    reg.register("a", 1)
    reg.register("b", 2)
    assert reg.keys() == ["b", "a"] and reg.values() == [2, 1] and list(reg) == ["b", "a"]
    assert reg["a"] == 1


def test_import_submodules_finds_a_folder_in_name_order(tmp_path, monkeypatch):
    """A family module dropped into the folder registers without being listed anywhere;
    ``_private`` modules and ``skip`` names are left out."""
    pkg = tmp_path / "fampkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from medsr_bench.core.registry import Registry\nREG = Registry('family')\n")
    for name in ("zeta", "alpha", "_helper", "skipped"):
        (pkg / f"{name}.py").write_text(f"from fampkg import REG\nREG.register({name!r}, {name!r})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    done = import_submodules("fampkg", skip=("skipped",))
    import fampkg

    assert done == ["fampkg.alpha", "fampkg.zeta"]
    assert fampkg.REG.names() == ["alpha", "zeta"]


def test_metric_protocol_model_duplicates_are_core_duplicate_errors():
    from medsr_bench.benchmark.metrics import get_metric, register_metric
    from medsr_bench.data_prep.registry import get_protocol, register_protocol
    from medsr_bench.models.registry import get_spec, register_aux, register_model

    with pytest.raises(DuplicateError) as e:
        register_metric(get_metric("psnr"))
    assert isinstance(e.value, KeyError)  # the metric registry raised KeyError before
    with pytest.raises(DuplicateError):
        register_protocol(type(get_protocol("drive")))
    with pytest.raises(DuplicateError):
        register_model(get_spec("bicubic"))
    with pytest.raises(DuplicateError):
        register_aux(get_spec("bicubic"))
