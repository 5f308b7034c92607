"""The SymPy check at many points.

SymPy differentiates the SymPy interpretation of the graph (built from our own
graph, never from user text) once per input; each derivative is turned into a
vectorised numpy function once (`lambdify` on SymPy's own expressions) and
compared with the engine's gradients at every point. A point where the two
float64 numbers disagree beyond the tolerance is looked at closely: a kink at
that point (the scalar engine's notes) makes it "n/a"; otherwise the scalar
check (`evaluate(..., check=True)`, exact arithmetic) gives its verdict, for a
bounded number of points ("not checked" beyond that).

Budget: the check compares every point until it has spent `seconds`
(--check-seconds) in all; after that, one point in `SAMPLE_EVERY`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from backprop.engine.api import VERDICTS
from backprop.engine.points import Compiled
from backprop.engine.stream import Rows

SAMPLE_EVERY = 100  # past the budget, one point in this many is checked
CLOSE_LOOKS = 20  # points compared in exact arithmetic (the scalar check), at most
REL_TOL = 1e-9  # as the scalar check's
ABS_TOL = 1e-12
ORDER = ("mismatch", "inaccurate", "not checked", "n/a", "ok")


@dataclass
class PointsCheck:
    """The check's counts over the run: points per verdict."""

    compiled: Compiled
    seconds: float
    status: str = "ok"
    message: str = ""
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(VERDICTS, 0))
    checked: int = 0
    points: int = 0  # points that were computed (not failed)
    sampled: bool = False
    spent: float = 0.0
    close_looks: int = 0
    first_bad: str = ""
    functions: list[Any] | None = None
    unavailable: str = ""

    def prepare(self) -> None:
        """SymPy's derivatives, as numpy functions (within the budget)."""
        started = time.process_time()
        try:
            self.functions = _derivative_functions(self.compiled, self.seconds)
        except _Unavailable as err:
            self.unavailable = str(err)
        self.spent += time.process_time() - started

    def add(self, rows: Rows) -> None:
        ok = ~rows.failed
        self.points += int(ok.sum())
        if self.functions is None:
            return
        started = time.process_time()
        chosen = np.flatnonzero(ok)
        if self.spent > self.seconds:
            self.sampled = True
            chosen = chosen[(rows.block.first + chosen) % SAMPLE_EVERY == 0]
        if len(chosen):
            self._compare(rows, np.asarray(chosen))
        self.spent += time.process_time() - started

    def _compare(self, rows: Rows, chosen: Any) -> None:
        assert self.functions is not None
        columns = [c[chosen] for c in rows.block.columns]
        agree = np.ones(len(chosen), dtype=bool)
        with np.errstate(all="ignore"):
            for f, ours_all in zip(self.functions, rows.gradients):
                ours = ours_all[chosen]
                theirs = np.broadcast_to(np.asarray(f(*columns), dtype=np.float64), ours.shape)
                close = np.abs(ours - theirs) <= np.maximum(REL_TOL * np.abs(theirs), ABS_TOL)
                # inf = inf is looked at closely: the exact gradient may be finite
                agree &= close | ((ours == theirs) & np.isfinite(ours))
        self.checked += len(chosen)
        self.counts["ok"] += int(agree.sum())
        for k in np.flatnonzero(~agree):
            point = {n: float(c[k]) for n, c in zip(self.compiled.inputs, columns)}
            verdict = self._close_look(point)
            self.counts[verdict] += 1
            if verdict in ("mismatch", "inaccurate") and not self.first_bad:
                at = ", ".join(f"{n}={v!r}" for n, v in point.items())
                self.first_bad = f"{verdict} at {at}"

    def _close_look(self, point: dict[str, float]) -> str:
        """The scalar engine's verdict at one point where the float comparison disagreed."""
        from backprop.engine.api import evaluate

        if self.close_looks >= CLOSE_LOOKS:
            return "not checked"
        self.close_looks += 1
        result = evaluate(self.compiled.source, point, check=True, check_seconds=1.0)
        verdicts = [n.verdict for n in result.nodes if n.op == "var" and n.grad is not None]
        for verdict in ORDER:
            if verdict in verdicts:
                return verdict
        return "ok"

    def document(self) -> dict[str, Any]:
        """The summary: method, status, points, checked, counts, message."""
        counts = self.counts
        if self.functions is None:
            status = "not checked"
            message = self.unavailable
            counts["not checked"] = self.points
        else:
            status = "ok"
            for verdict, word in (
                ("mismatch", "mismatch"),
                ("inaccurate", "inaccurate"),
                ("not checked", "partial"),
                ("n/a", "n/a"),
            ):
                if counts[verdict]:
                    status = word
                    break
            if self.checked < self.points and status in ("ok", "n/a"):
                status = "partial"
            sample = (
                f"every point for the first {self.seconds:g} s, then one in {SAMPLE_EVERY}"
                if self.sampled
                else "every point"
            )
            message = f"checked {self.checked:,} of {self.points:,} points ({sample})"
            if self.first_bad:
                message += f"; first wrong: {self.first_bad}"
        self.status = status
        return {
            "method": "sympy",
            "status": status,
            "points": self.points,
            "checked": self.checked,
            "counts": dict(counts),
            "message": message,
        }


class _Unavailable(Exception):
    pass


def _derivative_functions(compiled: Compiled, seconds: float) -> list[Any]:
    """d output / d input for each input, by SymPy, as vectorised numpy functions."""
    import sympy as sp
    from backprop.engine.check import _deadline, _expressions, _OutOfTime
    from backprop.engine.gates import GATES

    graph = compiled.graph
    if len(graph.nodes) > 2_000:
        raise _Unavailable(f"the program has {len(graph.nodes):,} nodes, too many for SymPy")
    try:
        with _deadline(seconds):
            exprs, _ = _expressions(sp, graph, [0.0] * len(graph.nodes), GATES)
            output = exprs[graph.output]
            symbols = [exprs[graph.inputs[name]] for name in compiled.inputs]
            derivatives = [sp.diff(output, s) for s in symbols]
            # lambdify prints SymPy's expressions (ours, built from the graph) as numpy code.
            erf = np.vectorize(math.erf, otypes=[np.float64])
            return [sp.lambdify(symbols, d, modules=[{"erf": erf}, "numpy"]) for d in derivatives]
    except _OutOfTime:
        raise _Unavailable(f"SymPy took longer than {seconds:g} s to differentiate") from None
    except RecursionError:
        raise _Unavailable("SymPy ran out of recursion depth") from None
    except (ValueError, TypeError, ZeroDivisionError, OverflowError) as err:
        raise _Unavailable(f"SymPy failed: {err}") from None
