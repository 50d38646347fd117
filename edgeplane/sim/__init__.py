"""The fleet simulator: thousands of virtual sites in one process against a real hub.

``wire`` speaks HTTP/1.1, ``hubcalls`` the hub's protocol, ``workloads`` simulates what
a site runs, ``site`` follows the hub for one site, ``fleet`` runs them all, and
``command`` is ``edgeplane sim``. It reaches the hub only over HTTP (never imports it).
"""
