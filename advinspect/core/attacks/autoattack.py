"""AutoAttack (Croce & Hein 2020): the parameter-free ensemble behind RobustBench's numbers.

The standard sequence is APGD-CE, APGD-T (targeted DLR over the top-9 other classes), FAB-T and
Square (black-box, so it cannot be fooled by masked gradients), each run only on the points the
previous ones left robust. The robust accuracy is the fraction still correct after all of them:
the strongest figure the tool reports. Stages are our own attacks; Square is looked up in the
registry at run time and skipped with a warning entry in the trace when it is not available.

The trace gains one row per stage (`stage`, `stage_robust_accuracy`, `stage_broken`), a final row
whose `broken_by` names the stage that broke each sample ("clean" when the clean image is already
misclassified, "" when robust), and `warning` rows for AutoAttack's cheap sanity checks (randomized
outputs, probabilities instead of logits, Square beating the gradient attacks, skipped stages),
plus the engine's own (zero gradients, non-finite outputs); all of them are also in
`result.warnings`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from advinspect.core.attacks.apgd import APGD, APGDT, APGDParams, APGDTParams, SubsetContext
from advinspect.core.attacks.base import (
    Attack,
    AttackResult,
    BatchOutput,
    param,
    predictions,
    project_l2,
    project_linf,
)
from advinspect.core.attacks.fab import FAB, FABParams
from advinspect.core.attacks.registry import register
from advinspect.core.errors import AdvInspectError
from advinspect.core.models.base import Classifier

VERSIONS = {
    "standard": ("apgd-ce", "apgd-t", "fab-t", "square"),
    "fast": ("apgd-ce", "apgd-t"),  # white-box only: minutes instead of hours, usually within 0.5%
}
_WHITE_BOX = ("apgd-ce", "apgd-t", "fab-t")


@dataclass(frozen=True)
class AutoAttackParams:
    eps: float = param(8 / 255, "budget in the model's value range (Linf e.g. 8/255, L2 e.g. 0.5)",
                       min=0.0, max=1e3)
    norm: str = param("linf", "threat model", choices=("linf", "l2"))
    version: str = param("standard", "standard: APGD-CE, APGD-T, FAB-T, Square; "
                                     "fast: APGD-CE, APGD-T only", choices=tuple(VERSIONS))
    steps: int = param(100, "iterations of APGD and FAB (per target class)", min=1, max=100_000)
    n_target_classes: int = param(9, "target classes of APGD-T and FAB-T", min=1, max=1000)
    n_queries: int = param(5000, "query budget of Square", min=1, max=1_000_000)


def _filter_values(attack_cls: type[Attack], values: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(attack_cls.params_type)}
    return {k: v for k, v in values.items() if k in names}


@register
class AutoAttack(Attack):
    """AutoAttack (Croce & Hein 2020): APGD-CE, APGD-T, FAB-T and Square in sequence, each on the
    points still robust: the strongest robust-accuracy estimate."""

    name = "autoattack"
    title = "AutoAttack"
    params_type = AutoAttackParams
    supports_targeted = False
    returns_best_effort = False  # robust points come back as the clean image

    def __init__(self, params: Any = None) -> None:
        super().__init__(params)
        self._reset_log(0)

    # --- the stages ----------------------------------------------------------------------
    def stages(self) -> list[tuple[str, Attack | None, str]]:
        """(name, attack or None, why it is missing) for the chosen version, in order."""
        return [(name, *self._make(name)) for name in VERSIONS[self.params.version]]

    def _make(self, name: str) -> tuple[Attack | None, str]:
        p = self.params
        if name == "apgd-ce":
            return APGD(APGDParams(eps=p.eps, norm=p.norm, steps=p.steps, loss="ce")), ""
        if name == "apgd-t":
            return APGDT(APGDTParams(eps=p.eps, norm=p.norm, steps=p.steps,
                                     n_target_classes=p.n_target_classes)), ""
        if name == "fab-t":
            return FAB(FABParams(norm=p.norm, eps=p.eps, steps=p.steps,
                                 n_target_classes=p.n_target_classes)), ""
        return self._make_square()

    def _make_square(self) -> tuple[Attack | None, str]:
        from advinspect.core.attacks.registry import get_attack

        p = self.params
        try:
            cls = get_attack("square")
            return cls.from_values(_filter_values(cls, {"eps": p.eps, "norm": p.norm,
                                                        "n_queries": p.n_queries})), ""
        except AdvInspectError as exc:
            return None, f"Square skipped: {exc}"

    def total_steps(self) -> int:
        return sum(attack.total_steps() for _, attack, _ in self.stages() if attack is not None)

    # --- per-run bookkeeping (which stage broke which sample) -----------------------------
    def _reset_log(self, n: int) -> None:
        self._broken_by = np.full(n, "", dtype=object)
        self._randomized = False
        self._probabilities = False

    def run(self, clf: Classifier, x: torch.Tensor, y: torch.Tensor | None = None,
            **kwargs: Any) -> AttackResult:
        """The engine's run, plus per-stage rows, `broken_by` and sanity warnings in the trace."""
        self._reset_log(len(x))
        result = super().run(clf, x, y, **kwargs)
        stages = self.stages()
        # the engine's re-prediction is the truth: a sample it finds robust was broken by nobody
        broken = np.where(result.adv_pred != result.labels, self._broken_by[:result.n], "")  # a cancel may cut n
        broken = np.where(result.clean_pred != result.labels, "clean", broken)
        rows: list[dict[str, Any]] = []
        robust = result.clean_correct.copy()
        end = 0
        for i, (name, attack, why) in enumerate(stages):
            if attack is None:
                rows.append({"step": end, "stage": name, "warning": why})
                continue
            end += attack.total_steps()
            hits = broken == name
            robust &= ~hits
            rows.append({"step": end, "stage": name, "stage_index": i,
                         "stage_robust_accuracy": float(robust.mean()) if len(robust) else 0.0,
                         "stage_broken": int(hits.sum())})
        result.warnings = self._warnings(broken) + result.warnings
        rows += [{"step": 0, "warning": text} for text in result.warnings]
        rows.append({"step": end, "broken_by": [str(b) for b in broken]})
        result.trace = sorted(result.trace + rows, key=lambda r: r["step"])
        return result

    def _warnings(self, broken: np.ndarray) -> list[str]:
        """AutoAttack's cheap checks: each one means the robust accuracy may be overestimated."""
        out = []
        if self._randomized:
            out.append("the model's outputs change between identical forward passes: a randomized "
                       "model needs an EOT evaluation; these numbers may be too optimistic")
        if self._probabilities:
            out.append("the model outputs probabilities, not logits: the attacks use their "
                       "logarithm, but gradients vanish where the probabilities saturate")
        n_square = int((broken == "square").sum())
        if n_square:
            out.append(f"Square (black-box) broke {n_square} points the gradient attacks could not: "
                       "a sign of gradient masking")
        return out

    # --- one batch -----------------------------------------------------------------------
    def _attack_batch(self, clf, x, y, target, ctx) -> BatchOutput:
        lo, hi = clf.spec.value_range
        with torch.no_grad():
            logits = clf.logits(x)
        robust = predictions(logits) == y
        self._sanity(clf, x, logits)
        x_adv = x.clone()
        stages = [(i, name, attack) for i, (name, attack, _) in enumerate(self.stages())
                  if attack is not None]
        total = sum(attack.total_steps() for _, _, attack in stages)
        offset = 0
        project = project_linf if self.params.norm == "linf" else project_l2
        for i, name, attack in stages:
            ids = robust.nonzero().flatten()
            if len(ids) and not ctx.cancelled:
                # steps shifted behind the earlier stages: one pass of the bar and the trace
                stage_ctx = SubsetContext(ctx, ids, x_adv, ~robust, offset=offset, total=total,
                                          extra={"stage": float(i)})
                out = attack._attack_batch(clf, x[ids], y[ids], None, stage_ctx)  # type: ignore[arg-type]
                xa = project(out.x_adv.detach().float(), x[ids], self.params.eps, lo, hi)
                with torch.no_grad():
                    hit = clf.logits(xa).argmax(1) != y[ids]
                x_adv[ids[hit]] = xa[hit]
                robust[ids[hit]] = False
                start = ctx.batch_offset
                self._broken_by[(start + ids[hit]).cpu().numpy()] = name
            offset += attack.total_steps()
            if ctx.step(offset, total):
                break
        return BatchOutput(x_adv)

    def _sanity(self, clf: Classifier, x: torch.Tensor, logits: torch.Tensor) -> None:
        """Randomness and softmax outputs: one extra forward pass (zero gradients: the engine)."""
        with torch.no_grad():
            again = clf.logits(x)
        finite = torch.isfinite(logits) & torch.isfinite(again)
        scale = 1.0 + float(logits[finite].abs().max()) if finite.any() else 1.0
        if finite.any() and float((again - logits)[finite].abs().max()) > 1e-4 * scale:
            self._randomized = True
        self._probabilities = clf.outputs_probabilities
