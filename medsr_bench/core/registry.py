"""One registry class for every name -> object table of the harness (data_prep protocols, models,
metrics, training recipes, suites, executors).

Pattern after BasicSR's ``basicsr.utils.registry.Registry`` and timm's model registry: a named table
with one duplicate error, a type check on registration, aliases, a registration order (optionally
overridden by a canonical order), and lazy entries written ``"package.module:attr"`` that are imported
on first lookup (so a heavy family module is imported only when its entry is asked for).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """Unknown name in a :class:`Registry` (a ``KeyError``, so callers catching that keep working)."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


class DuplicateError(ValueError):
    """A name (or alias) registered twice in one :class:`Registry`."""


class Registry(Generic[T]):
    """Named table of ``T`` objects.

    Args:
        name: what the entries are, for messages (``"model"``, ``"metric"``).
        kind: type every entry must be an instance of (``isinstance`` check), or ``None``.
        order: canonical order of :meth:`names` (names not listed follow in registration order).

    Raises (on use): :class:`DuplicateError` for a name or alias registered twice;
    ``TypeError`` for an entry that is not a ``kind``; :class:`RegistryError` (a ``KeyError``)
    for an unknown name, naming the known ones.
    """

    def __init__(self, name: str, kind: type | tuple[type, ...] | None = None,
                 order: Iterable[str] = ()) -> None:
        self.name = name
        self.kind = kind
        self.order = tuple(order)
        self._entries: dict[str, T | str] = {}
        self._aliases: dict[str, str] = {}
        self._loaders: list[Callable[[], None]] = []

    # -- registration -------------------------------------------------------------------------
    def register(self, name: str, obj: T, aliases: Iterable[str] = (), replace: bool = False) -> T:
        """Add ``obj`` under ``name`` (and ``aliases``); returns ``obj`` (usable in a decorator)."""
        self._check_type(name, obj)
        self._add(name, obj, aliases, replace)
        return obj

    def register_lazy(self, name: str, target: str, aliases: Iterable[str] = ()) -> None:
        """Add ``name`` as ``"package.module:attr"``, imported on the first :meth:`get` of it."""
        if ":" not in target:
            raise ValueError(f"{self.name} {name!r}: lazy entry must be 'module:attr', got {target!r}")
        self._add(name, target, aliases, False)

    def decorator(self, name: str | None = None, aliases: Iterable[str] = ()) -> Callable[[T], T]:
        """``@reg.decorator()`` registers a class or function under ``name`` (default: its ``__name__``)."""
        def deco(obj: T) -> T:
            return self.register(name or obj.__name__, obj, aliases)  # type: ignore[attr-defined]
        return deco

    def add_loader(self, loader: Callable[[], None]) -> None:
        """Call ``loader()`` (once) before the first lookup: it imports the modules that register."""
        self._loaders.append(loader)

    # -- lookup ---------------------------------------------------------------------------------
    def get(self, name: str) -> T:
        """Entry ``name`` (or an alias of it); a lazy entry is imported and checked here."""
        self._load()
        key = self._aliases.get(name, name)
        if key not in self._entries:
            raise RegistryError(f"unknown {self.name} {name!r}; known: {', '.join(self.names())}")
        obj = self._entries[key]
        if isinstance(obj, str) and ":" in obj and not self._is_kind_str():
            mod, _, attr = obj.partition(":")
            obj = getattr(importlib.import_module(mod), attr)
            self._check_type(key, obj)
            self._entries[key] = obj
        return obj  # type: ignore[return-value]

    def names(self) -> list[str]:
        """Registered names, canonical ``order`` first, then registration order (aliases excluded)."""
        self._load()
        rank = {n: i for i, n in enumerate(self.order)}
        keys = list(self._entries)
        return sorted(keys, key=lambda n: (rank.get(n, len(rank)), keys.index(n)))

    def items(self) -> list[tuple[str, T]]:
        """``(name, entry)`` pairs in :meth:`names` order (lazy entries imported)."""
        return [(n, self.get(n)) for n in self.names()]

    def resolve(self, name: str) -> str:
        """Canonical name of ``name`` or of the entry ``name`` is an alias of (no import)."""
        return self._aliases.get(name, name)

    def unregister(self, name: str) -> None:
        """Remove ``name`` and its aliases (tests, user entries of one run)."""
        self._entries.pop(name, None)
        for a in [a for a, n in self._aliases.items() if n == name]:
            del self._aliases[a]

    def keys(self) -> list[str]:
        """Same as :meth:`names` (dict-like use)."""
        return self.names()

    def values(self) -> list[T]:
        """Entries in :meth:`names` order (lazy entries imported)."""
        return [self.get(n) for n in self.names()]

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, {len(self._entries)} entries)"

    # -- internals ------------------------------------------------------------------------------
    def _is_kind_str(self) -> bool:
        return self.kind is str or (isinstance(self.kind, tuple) and str in self.kind)

    def _check_type(self, name: str, obj: object) -> None:
        if self.kind is not None and not isinstance(obj, self.kind):
            want = self.kind.__name__ if isinstance(self.kind, type) else \
                " | ".join(k.__name__ for k in self.kind)
            raise TypeError(f"{self.name} {name!r}: expected {want}, got {type(obj).__name__}")

    def _add(self, name: str, obj: T | str, aliases: Iterable[str], replace: bool) -> None:
        taken = name in self._aliases or (name in self._entries and not replace)
        if taken:
            raise DuplicateError(f"{self.name} {name!r} is already registered")
        aliases = tuple(aliases)
        for a in aliases:
            if a in self._entries or self._aliases.get(a, name) != name:
                raise DuplicateError(f"{self.name} alias {a!r} is already registered")
        self._entries[name] = obj
        for a in aliases:
            self._aliases[a] = name

    def _load(self) -> None:
        while self._loaders:
            self._loaders.pop(0)()


def import_submodules(package: str, skip: Iterable[str] = ()) -> list[str]:
    """Import every module in the folder of ``package`` (``pkgutil`` over its ``__path__``), in
    sorted name order, so family modules register themselves without an import list kept by hand.

    Modules whose name starts with ``_`` and those named in ``skip`` are left out (helpers,
    the registry module itself). Returns the full names imported, in order.

    Raises:
        ModuleNotFoundError: ``package`` does not exist; any error a family module raises on import.
    """
    pkg = importlib.import_module(package)
    skip = set(skip)
    names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__))
    done = []
    for name in names:
        if name.startswith("_") or name in skip:
            continue
        importlib.import_module(f"{package}.{name}")
        done.append(f"{package}.{name}")
    return done
