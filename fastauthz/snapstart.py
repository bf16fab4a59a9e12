"""Lambda SnapStart: what a restored snapshot must redo. Loaded only when a snapshot is restored
(the authorizer registers its hook where the managed runtime has snapshot_restore_py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .keystore import KeyStore
    from .logs import Log


def restore(stores: Iterable[KeyStore], log: Log) -> None:
    """A restored snapshot: revalidate keys, drop pooled connections, reseed randomness (every
    restored copy would otherwise share the snapshot's random state)."""
    import random

    from .fetch import reset_connections

    for store in stores:
        store.after_restore()
    reset_connections()
    random.seed()
    log.info("restored from snapshot: keys will be revalidated")
