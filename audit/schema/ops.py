"""The part of Alembic's ``op`` that audit's schema revisions use.

A protocol rather than ``alembic.operations.Operations``: a migration passes Alembic's ``op``
module proxy, an :class:`~alembic.operations.Operations` in all but type.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.engine import Connection

__all__ = ["MigrationOps"]


class MigrationOps(Protocol):
    def get_bind(self) -> Connection: ...

    def create_table(self, table_name: str, *columns: Any, **kw: Any) -> Any: ...

    def drop_table(self, table_name: str, *, schema: str | None = ..., **kw: Any) -> None: ...

    def create_index(self, index_name: str | None, table_name: str, columns: Any, **kw: Any) -> None: ...

    def drop_index(self, index_name: str, table_name: str | None = ..., **kw: Any) -> None: ...

    def create_unique_constraint(
        self, constraint_name: str | None, table_name: str, columns: Any, **kw: Any
    ) -> Any: ...

    def drop_constraint(self, constraint_name: str, table_name: str, type_: str | None = ...) -> None: ...

    def f(self, name: str) -> Any: ...
