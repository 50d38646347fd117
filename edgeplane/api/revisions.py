"""``Revision``: written by the hub, one for each distinct template of an Application
(its ``workload``, ``resources`` and ``overrides``), numbered, so that a rollout can say
which template each site runs and an undo can bring an old one back.

Only the shape lives here; the hub keeps them (``hub.controllers.revisions``) and names
them with ``wellknown.revision_name``. Sites never read them.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from edgeplane.api.applications import Override
from edgeplane.api.meta import Model, ObjectName, PositiveCount, Resource, ShortText
from edgeplane.api.workloads import Resources, Workload

_HASH = re.compile(r"[0-9a-f]{64}")


def _template_hash(digest: str) -> str:
    if not _HASH.fullmatch(digest):
        raise ValueError(
            f"invalid hash {digest[:80]!r}: write the SHA-256 of the template's canonical "
            "JSON as 64 lower case hex digits"
        )
    return digest


class RevisionTemplate(Model):
    """What makes a revision: the fields of the Application's spec a site runs."""

    workload: Workload
    resources: Resources | None = None
    overrides: list[Override] | None = None


class RevisionSpec(Model):
    application: ObjectName
    application_uid: ShortText = Field(alias="applicationUid")
    """The uid of the Application: a newer object of the same name has its own revisions."""
    revision: PositiveCount
    hash: Annotated[str, AfterValidator(_template_hash)]
    template: RevisionTemplate
    created_at: ShortText = Field(alias="createdAt")


class Revision(Resource):
    kind: Literal["Revision"] = "Revision"
    spec: RevisionSpec
    status: None = None
