"""Label selectors as SQL: each requirement is an EXISTS over the labels table.

In: a label with the key and one of the values exists; NotIn: no such label (so an
object without the key matches, as in Kubernetes); Exists / DoesNotExist: a label
with the key does / does not exist. Each subquery is correlated with ``objects``.
"""

from __future__ import annotations

import sqlalchemy as sa

from edgeplane.api.selectors import Operator, Requirement
from edgeplane.store.schema import labels, objects


def requirement_clause(requirement: Requirement) -> sa.ColumnElement[bool]:
    match = (labels.c.kind == objects.c.kind) & (labels.c.name == objects.c.name)
    match = match & (labels.c.key == requirement.key)
    if requirement.operator in (Operator.IN, Operator.NOT_IN):
        match = match & labels.c.value.in_(requirement.values)
    exists = sa.exists(sa.select(labels.c.key).where(match))
    if requirement.operator in (Operator.IN, Operator.EXISTS):
        return exists
    return ~exists
