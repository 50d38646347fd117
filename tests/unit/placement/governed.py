"""The base of the tests' policy fakes: no policies, but the may-stay rule answered
as the hub's gate answers it (governance's ``policy_reason``), so a fake that
excludes sites needs only ``verdicts``."""

from __future__ import annotations

from edgeplane.governance.policies import policy_reason
from edgeplane.placement.model import NoPolicies


class Governed(NoPolicies):
    def reason(self, verdict: tuple[str | None, bool], held: bool) -> str | None:
        return policy_reason(verdict, held)
