"""Database driver errors translated at the store boundary, naming the operation.

Everything SQLAlchemy raises becomes a ``StoreError`` (the hub answers 503), except
an IntegrityError the caller maps to a precise error such as ``AlreadyExists``.
The driver's own text (SQL, parameters, server messages) is logged here and never
put in the StoreError: it would reach API answers and tell an attacker the schema.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from edgeplane.store.errors import StoreError

log = logging.getLogger(__name__)


class translated:
    """Driver errors become StoreError (HTTP 503 in the hub) naming the operation.

    Usable with ``with`` and ``async with``, so it can join other async contexts.
    """

    def __init__(self, what: str, on_integrity_error: Callable[[], StoreError] | None = None):
        self.what, self.on_integrity_error = what, on_integrity_error

    def __enter__(self) -> None:
        return None

    def __exit__(self, _type: object, error: BaseException | None, _tb: object) -> None:
        if error is None:
            return
        translated_error = translate(self.what, error, self.on_integrity_error)
        if translated_error is not error:
            raise translated_error from error

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, _type: object, error: BaseException | None, _tb: object) -> None:
        self.__exit__(_type, error, _tb)


def translate(
    what: str,
    error: BaseException,
    on_integrity_error: Callable[[], StoreError] | None = None,
) -> BaseException:
    """The error a caller sees for ``error`` (its cause set); anything that is not a
    driver error comes back as it is."""
    if isinstance(error, IntegrityError) and on_integrity_error is not None:
        mapped = on_integrity_error()
    elif isinstance(error, SQLAlchemyError | sqlite3.Error):  # sqlite3: ``sqlite_reads``
        log.error("the store could not %s: %s", what, error)
        mapped = StoreError(
            f"the store could not {what}: the database refused or failed "
            "(details are in the hub's log); try again, and tell the operator if it stays"
        )
    else:
        return error
    mapped.__cause__ = error
    return mapped
