"""Resource models and validation: the shape of every edgeplane object.

Belongs here: pydantic v2 models for each kind, metadata, Kubernetes naming and label
rules, quantities, label selectors, and the kind registry. No I/O, and nothing else of
edgeplane is imported here.

* ``validation``: ``validate_object`` (raw wire data in, a typed resource or
  ``InvalidObject`` with field paths out) and ``to_wire`` (the way back).
* ``kinds``: the registry of kinds, plurals and short names.
* ``resources``: every kind in one import; each lives in its own module (``sites``,
  ``applications``, ``policies``, ``assignments``, ``devices``, ``revisions``), shared
  workload pieces in ``workloads``, an application's rollout in ``rollouts``, the
  envelope and metadata in ``meta``.
* ``schedules``: cron schedules of maintenance windows (parsing, next occurrence).
* ``labels``, ``selectors``, ``quantity``: the Kubernetes rules the models use.
* ``errors``: ``FieldError``, ``InvalidObject`` and the translation of pydantic errors.
"""
