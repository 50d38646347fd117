"""``python -m edgeplane.sim``: what ``edgeplane sim`` execs (see ``sim.command``)."""

from edgeplane.sim.command import main

main()
