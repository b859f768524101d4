"""One registry mechanism for every kind of plug-in: neurons, codes, encoders, data sets, zoo
models and energy platforms.

A :class:`Registry` maps names to objects, registers them with a decorator or a call, and
answers an unknown name with the same message everywhere::

    NEURONS = Registry("neuron model")

    @NEURONS.register("qif")
    class QuadraticIF(NeuronModel): ...

    NEURONS["qiff"]  # RegistryError: unknown neuron model 'qiff'; available: if, lif, qif
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Generic, TypeVar

from .errors import SpikescopeError

T = TypeVar("T")


class RegistryError(KeyError, SpikescopeError):
    """An unknown name was asked of a registry (a KeyError and a ValueError, so that both
    ``except KeyError`` and ``except ValueError`` callers see it)."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class Registry(MutableMapping[str, T], Generic[T]):
    """Name -> object, in registration order; ``kind`` names the entries in error messages."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """``register(name, obj)`` or ``@register(name)``: add ``obj`` under ``name``
        (a later registration of the same name replaces the earlier one)."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        if obj is not None:
            self._entries[name] = obj
            return obj

        def deco(o: T) -> T:
            self._entries[name] = o
            return o

        return deco

    def class_decorator(self, name: str, base: type) -> Callable[[type], type]:
        """A class decorator that registers a subclass of ``base`` under ``name`` and sets
        its ``name`` attribute (how neuron models and spike codes are registered)."""

        def deco(cls: type) -> type:
            if not (isinstance(cls, type) and issubclass(cls, base)):
                raise TypeError(f"a {self.kind} must be a {base.__name__} subclass, "
                                f"got {cls!r} for {name!r}")
            cls.name = name
            self.register(name, cls)
            return cls

        return deco

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._entries)

    def unknown(self, name: object) -> RegistryError:
        """The error for an unknown ``name`` (the one message every registry gives)."""
        return RegistryError(f"unknown {self.kind} {name!r}; available: "
                             f"{', '.join(self._entries)}")

    def get_or_raise(self, name: str) -> T:
        """The entry named ``name``; :class:`RegistryError` if there is none."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise self.unknown(name) from None

    def __getitem__(self, name: str) -> T:
        return self.get_or_raise(name)

    def __setitem__(self, name: str, obj: T) -> None:
        self.register(name, obj)

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"
