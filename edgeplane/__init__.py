"""edgeplane: one control plane for fleets from the cloud to thousands of edge sites.

The packages follow the layers in DESIGN §4: ``api`` (models, no I/O) at the bottom,
``store`` over it, the pure decision packages (``placement``, ``governance``,
``rollout``, ``health``) beside each other, and the I/O shells (``hub``, ``agent``)
and front ends (``client``, ``cli``, ``web``, ``sim``) on top.
"""

__version__ = "0.1.0"
