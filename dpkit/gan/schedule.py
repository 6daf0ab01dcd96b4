"""How many discriminator steps to take per generator step: constant, or adaptive.

Bie, Kamath & Zhang ("Private GANs, Revisited", TMLR 2023; alexbie98/dpgan-revisit) found that a
DP discriminator needs many steps per generator step (n_D = 50 on MNIST at ε = 10), and that
raising n_D during training works better still. Their adaptive rule, implemented here: before
each generator step, measure the discriminator's accuracy on the *generated* batch (the share it
calls fake); keep an exponential moving average (β) of it; once at least ``grace`` generator
steps were taken at the current n_D and the average has fallen to ``threshold`` or below (the
discriminator no longer tells generated from real), move n_D up the ladder
1, 2, 5, 10, 20, 50, 100, ....

Privacy: the rule reads only the discriminator's outputs on generated images. The discriminator
is already differentially private and the generated images are post-processing of it, so the
schedule is post-processing too and costs no ε. It never reads a private batch. Whatever the
schedule, every discriminator step draws its own Poisson batch and is charged once; the number of
discriminator steps (epochs × ⌊N/B⌋) is fixed in advance, only their split between generator
steps changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dpkit.errors import require
from dpkit.names import D_STEPS_SCHEDULES

__all__ = ["D_STEPS_LADDER", "SCHEDULES", "DStepSchedule"]

D_STEPS_LADDER = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
SCHEDULES = D_STEPS_SCHEDULES


@dataclass
class DStepSchedule:
    """The state of the n_D schedule (saved in checkpoints: a resumed run continues it exactly).

    Attributes:
        d_steps: the current n_D (the start value; must be on the ladder when adaptive).
        adaptive: raise n_D by the rule above.
        threshold: raise n_D when the averaged fake accuracy is at or below this.
        grace: generator steps to wait at each n_D before it may be raised.
        beta: smoothing of the moving average.
        average: the moving average of the fake accuracy (None before the first generator step).
        since_raise: generator steps taken at the current n_D.
        taken: discriminator steps taken since the last generator step.
    """

    d_steps: int = 1
    adaptive: bool = False
    threshold: float = 0.6
    grace: int = 200
    beta: float = 0.99
    average: float | None = None
    since_raise: int = 0
    taken: int = 0

    def __post_init__(self) -> None:
        require(self.d_steps >= 1, f"d_steps={self.d_steps} must be >= 1")
        if self.adaptive:
            require(self.d_steps in D_STEPS_LADDER,
                    f"d_steps={self.d_steps} must be one of "
                    f"{', '.join(map(str, D_STEPS_LADDER[:8]))}, ... for the adaptive schedule")
        require(0 < self.threshold < 1, f"d_steps_threshold={self.threshold} must be in (0, 1)")
        require(self.grace >= 1, f"d_steps_grace={self.grace} must be >= 1")
        require(0 <= self.beta < 1, f"d_steps_beta={self.beta} must be in [0, 1)")

    def discriminator_step_done(self) -> bool:
        """Count one discriminator step; True when it is the generator's turn."""
        self.taken += 1
        return self.taken >= self.d_steps

    def generator_step_done(self, fake_accuracy: float) -> None:
        """Record the discriminator's accuracy on the generated batch of this generator step."""
        self.taken = 0
        self.since_raise += 1
        self.average = (fake_accuracy if self.average is None
                        else self.beta * self.average + (1 - self.beta) * fake_accuracy)
        if (self.adaptive and self.since_raise >= self.grace and self.average <= self.threshold
                and self.d_steps < D_STEPS_LADDER[-1]):
            self.d_steps = D_STEPS_LADDER[D_STEPS_LADDER.index(self.d_steps) + 1]
            self.since_raise = 0

    def state_dict(self) -> dict[str, Any]:
        return {"d_steps": self.d_steps, "average": self.average,
                "since_raise": self.since_raise, "taken": self.taken}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.d_steps, self.average = int(state["d_steps"]), state["average"]
        self.since_raise, self.taken = int(state["since_raise"]), int(state["taken"])
