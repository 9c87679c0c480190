"""Registry of dataset protocols.

A protocol is a class with a frozen params dataclass (every open choice a field with its default and
a comment citing the paper) and a generator of :class:`~data_prep.sample.Sample`. Register it with
``@register_protocol``; the runner looks it up by ``name``.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from medsr_bench.core import stable_hash
from medsr_bench.core.registry import Registry
from medsr_bench.data_prep.sample import Sample


@dataclass(frozen=True)
class ResolvedSource:
    """Where a protocol found its raw data under a data root.

    Attributes:
        dataset: dataset id used in outputs (``cptac-gbm`` or ``ct-head-standin``...).
        path: the folder that was found.
        stand_in_for: the dataset this one replaces, or None.
        note: one line shown in reports (e.g. "head-CT DICOM stand-in; this is NOT CPTAC-GBM").
    """

    dataset: str
    path: Path
    stand_in_for: str | None = None
    note: str = ""


class Protocol(ABC):
    """Base class of a dataset protocol.

    Class attributes to set: ``name`` (registry key), ``title``, ``scale``, ``params_cls`` (a frozen
    dataclass), ``paper`` (e.g. ``"P1 (Aghelan & Rouhani) sec. 4"``), ``layout`` (expected folder
    layout, one line) and ``how_to_get`` (where the dataset is obtained, registration or not).
    """

    name: ClassVar[str]
    title: ClassVar[str]
    scale: ClassVar[int]
    params_cls: ClassVar[type]
    paper: ClassVar[str] = ""
    layout: ClassVar[str] = ""
    how_to_get: ClassVar[str] = ""

    def __init__(self, params=None):
        self.params = params if params is not None else self.params_cls()

    @abstractmethod
    def resolve(self, data_root: Path) -> ResolvedSource:
        """Find the dataset under ``data_root``.

        Raises:
            DatasetMissing: the dataset (and any allowed stand-in) is absent.
        """

    @abstractmethod
    def samples(
        self, data_root: Path, split: str | None = None, limit: int | None = None
    ) -> Iterator[Sample]:
        """Yield HR/LR pairs of ``split`` (None = the protocol's evaluation split).

        ``limit`` takes N samples chosen deterministically (same N -> same samples). Raises
        :class:`~data_prep.errors.DatasetMissing` or :class:`~data_prep.errors.DataError`.
        """

    def params_dict(self) -> dict:
        """Every protocol parameter as a JSON-serialisable dict (goes into run.json)."""
        return json.loads(json.dumps(dataclasses.asdict(self.params), default=str))

    def params_hash(self) -> str:
        """sha256 (first 16 hex) of the protocol name + parameters; keys caches of prepared data."""

        return stable_hash({"protocol": self.name, "params": self.params_dict()})


PROTOCOLS: Registry[type] = Registry("dataset protocol", kind=type)
"""The registered :class:`Protocol` classes by name; the protocol modules of
``data_prep/protocols/`` are found by folder on first lookup."""

USER_DATASETS: Registry[tuple] = Registry("user dataset", kind=tuple)
"""``custom-<name> -> (default CustomParams, config source)`` of the user datasets of this process."""


def register_protocol(cls: type[Protocol]) -> type[Protocol]:
    """Class decorator: add a :class:`Protocol` subclass under ``cls.name``.

    Raises:
        medsr_bench.core.registry.DuplicateError: (a ``ValueError``) the name is taken.
    """
    return PROTOCOLS.register(cls.name, cls)


def _load_all() -> None:
    # the package imports every protocol module of its folder (each registers itself); an import
    # here, not at module level: those modules import this one
    importlib.import_module("medsr_bench.data_prep.protocols")


PROTOCOLS.add_loader(_load_all)


def get_protocol(name: str, params=None) -> Protocol:
    """Instantiate the protocol ``name`` with ``params`` (default params when None).

    Raises:
        KeyError: unknown name; the message lists the registered names.
    """
    if name in USER_DATASETS or (name.startswith("custom-") and params is not None):
        from medsr_bench.data_prep.protocols.custom import CustomProtocol  # cycle: it imports this

        default, source = USER_DATASETS.get(name) if name in USER_DATASETS else (None, "")
        return CustomProtocol(params if params is not None else default, config_source=source)
    if name not in PROTOCOLS:
        raise KeyError(f"unknown dataset protocol {name!r}; known: "
                       f"{', '.join(sorted([*PROTOCOLS.names(), *USER_DATASETS.names()]))}")
    return PROTOCOLS.get(name)(params)


def params_class(name: str) -> type:
    """The params dataclass of protocol ``name`` without building it (``custom-*`` user datasets
    need not be registered in this process: their class is always ``CustomParams``).

    Raises:
        KeyError: unknown name.
    """
    if name.startswith("custom-"):
        from medsr_bench.data_prep.protocols.custom import CustomParams

        return CustomParams
    return get_protocol(name).params_cls


def register_custom(protocol) -> None:
    """Make a user dataset (a :class:`~data_prep.protocols.custom.CustomProtocol` built from a
    dataset config) reachable by name (``custom-<name>``) for this process, like a registered
    protocol. Given its params, :func:`get_protocol` rebuilds it in any process (workers)."""
    USER_DATASETS.register(protocol.name, (protocol.params, getattr(protocol, "config_source", "")),
                           replace=True)


def list_protocols() -> list[str]:
    """Registered protocol names, sorted (user datasets of this process last)."""
    return [*sorted(PROTOCOLS.names()), *sorted(USER_DATASETS.names())]
