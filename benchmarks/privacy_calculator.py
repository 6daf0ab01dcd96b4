"""Time the privacy calculator and compare dpkit's epsilons with Opacus's own accountants.

Usage: python benchmarks/privacy_calculator.py
"""

from __future__ import annotations

import time
import warnings

from opacus.accountants import GaussianAccountant, PRVAccountant, RDPAccountant

from dpkit.engine import plan_privacy, steps_per_epoch

CASES = [(60000, 256, 60, 1.1, 1e-5), (60000, 2048, 40, 3.0, 1e-5), (1500, 64, 20, 1.0, 1e-5)]


def main() -> None:
    warnings.simplefilter("ignore")
    print("| N | B | epochs | sigma | steps | dpkit rdp | Opacus RDPAccountant | dpkit prv | "
          "Opacus PRVAccountant | dpkit gdp | time (3 accountants) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n, b, epochs, sigma, delta in CASES:
        t = time.perf_counter()
        plan = plan_privacy(dataset_size=n, batch_size=b, epochs=epochs, delta=delta,
                            noise_multiplier=sigma)
        dt = time.perf_counter() - t
        steps = epochs * steps_per_epoch(n, b)
        ref = {}
        for name, cls in (("rdp", RDPAccountant), ("prv", PRVAccountant), ("gdp", GaussianAccountant)):
            acc = cls()
            acc.history = [(sigma, b / n, steps)]
            ref[name] = acc.get_epsilon(delta)
        e = plan.epsilons
        print(f"| {n} | {b} | {epochs} | {sigma} | {steps} | {e['rdp']:.6f} | {ref['rdp']:.6f} | "
              f"{e['prv']:.6f} | {ref['prv']:.6f} | {e['gdp']:.6f} | {dt:.2f} s |")
    print()
    print("| target epsilon | accountant | calibrated sigma | epsilon reached | time |")
    print("|---|---|---|---|---|")
    for acc in ("rdp", "prv"):  # gdp may not calibrate (it can underestimate epsilon)
        for target in (1.0, 3.0, 8.0):
            t = time.perf_counter()
            plan = plan_privacy(dataset_size=60000, batch_size=256, epochs=60, delta=1e-5,
                                target_epsilon=target, accountant=acc)
            print(f"| {target} | {acc} | {plan.noise_multiplier:.4f} | {plan.epsilon:.4f} | "
                  f"{time.perf_counter() - t:.2f} s |")


if __name__ == "__main__":
    main()
