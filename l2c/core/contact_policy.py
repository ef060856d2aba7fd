"""Who may not be e-mailed, asked by stages that cannot import nurture (lead imports, for one).

Nurture registers its suppression list here in AppConfig.ready; `suppression_lookup()` returns a function
address → reason (None when the address may be e-mailed as far as the list goes). With nothing registered
(nurture not installed) no address is suppressed.
"""
from __future__ import annotations

from collections.abc import Callable

_LOADERS: list[Callable[[], dict[str, str]]] = []


def register_suppression_loader(loader: Callable[[], dict[str, str]]) -> None:
    """`loader()` returns every suppressed address (lower-cased) with its reason, in one query."""
    if loader not in _LOADERS:
        _LOADERS.append(loader)


def suppression_lookup() -> Callable[[str], str | None]:
    """Read the lists once; the returned function answers for one address (any case, spaces stripped)."""
    suppressed: dict[str, str] = {}
    for loader in _LOADERS:
        suppressed.update(loader())
    if not suppressed:
        return lambda email: None
    return lambda email: suppressed.get((email or "").strip().lower())
