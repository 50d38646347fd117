"""Artifacts as data: their names and versions, and the rules of their content.

An artifact is a gzip tarball. The hub checks it while it is uploaded and every agent
checks it again while it unpacks it (a site does not trust the hub's disk); both use
the rules here, so they agree on what is refused. Pure: bytes in, members or an
``ArtifactRefused`` out; no files are read or written here.

* ``names``: the artifact name and version patterns, fully matched.
* ``limits``: ``ArtifactLimits`` (unpacked size, members, ratio, name length, depth)
  and their ``--artifact-limit KEY=N`` spelling.
* ``stream``: gzip inflated under the ratio limit, tar headers parsed by hand (ustar,
  PAX and GNU long names), members and their data out.
* ``tree``: which paths and links are allowed, links resolved against the final tree.
* ``scan``: the three together, what the hub and the agent call.

Not here: where the bytes are stored (``hub.artifacts``) or written (``agent.artifacts``).
"""
