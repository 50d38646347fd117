"""The process runtime: workloads as supervised OS processes, for hosts without
Kubernetes.

* ``runtime``: ``ProcessRuntime``, the ``Runtime`` protocol over the pieces below;
* ``supervisor``: one instance's start/adopt, watch, restart and stop;
* ``launch``: argv, environment, ports and working directory from the wire spec;
* ``processes``: watching and signalling a process by pid (ours or adopted);
* ``cpu``: the CPU an instance's session used, from ``/proc``;
* ``probes``: http, tcp and exec health checks;
* ``restarts``: restart policy and backoff (pure);
* ``records``: per-instance records on disk, written atomically;
* ``logs``: per-instance log files, rotation and tail.

Resources are counted by the agent, not enforced here (a later cgroup step would
hook into ``launch.spawn``).
"""

from edgeplane.agent.runtimes.process.runtime import ProcessRuntime
from edgeplane.agent.runtimes.process.supervisor import Timings

__all__ = ["ProcessRuntime", "Timings"]
