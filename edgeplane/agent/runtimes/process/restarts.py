"""When to restart a workload, and after how long: the pure half of supervision.

``next_step`` turns how a run ended and the restart policy into a decision;
``RestartBackoff`` is the capped exponential delay between restarts (no jitter: one
site's restarts do not stampede anything), reset after a long enough healthy run.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeplane.agent.runtimes import Phase


@dataclass(frozen=True)
class Ending:
    """How one run of the process ended."""

    code: int | None
    """Exit code; negative for a signal; None when unknown (an adopted process)."""
    reason: str
    message: str
    unhealthy: bool = False


def describe_exit(code: int | None) -> str:
    if code is None:
        return "exited (exit code unknown: it was started by an earlier agent)"
    if code < 0:
        return f"killed by signal {-code}"
    return f"exit code {code}"


def exit_ending(code: int | None) -> Ending:
    reason = "Completed" if code == 0 else "Error"
    return Ending(code, reason, describe_exit(code))


def should_restart(policy: str, ending: Ending) -> bool:
    """As Kubernetes: a failed health check is a failure (its code is None), and
    ``Never`` means never, even then."""
    if policy == "Always":
        return True
    return policy == "OnFailure" and ending.code != 0


def final_phase(ending: Ending) -> Phase:
    return Phase.SUCCEEDED if ending.code == 0 and not ending.unhealthy else Phase.FAILED


@dataclass
class RestartBackoff:
    initial: float = 1.0
    cap: float = 60.0
    reset_after: float = 60.0
    """A run this long counts as healthy: the next failure starts again from ``initial``."""
    failures: int = 0

    def delay(self, ran_for: float) -> float:
        """The wait before the next start, given how long the last run lasted."""
        if ran_for >= self.reset_after:
            self.failures = 0
        delay = min(self.cap, self.initial * 2.0 ** min(self.failures, 32))
        self.failures += 1
        return delay


def crash_loop_message(ending: Ending, delay: float, restarts: int) -> str:
    """E.g. ``exit code 3, restarting in 8 s (5 restarts)``."""
    plural = "" if restarts == 1 else "s"
    return f"{ending.message}, restarting in {delay:g} s ({restarts} restart{plural})"
