"""Helpers shared by the scale benchmarks (issue 11): percentiles and the aggregation of
per-period load lines (``stats``), CPU and memory of processes read from ``/proc``
(``procstat``), a byte-counting TCP proxy (``proxy``), launching a pinned hub
(``hubproc``), the kube-apiserver Lease-renewal driver (``kube_leases``) and its
apiserver-only control plane (``kube_apiserver``).

Not a package of the product: nothing under ``edgeplane/`` imports it.
"""
