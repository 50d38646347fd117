"""Governance: pure CEL policy compile/evaluate and what its verdicts mean.

Belongs here: compiling Policies' CEL rules with cost limits (``costs``, ``policies``),
evaluating them for an application and a site's labels, the rules of what a verdict
means (``policy_reason``, ``may_stay``: a site already held may stay where the policy
says ``onViolation: Report``), and the cache that asks each rule once per distinct value
of the labels it reads (``cache``, ``reads``). Not here: storing policies or serving them (the
hub does that), or placement (it reaches these rules through its ``Policies``
protocol, implemented by ``cache``).
"""
