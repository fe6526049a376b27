"""The GUI's state: model, images, predictions, attack results, as a QObject with signals.

Panels observe the Session and call its commands; they never call each other. The Session hands
every heavy step to the worker (`JobRunner`) and commits new state only when a job succeeded, so
an error leaves what the user had untouched.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from advinspect.core.errors import AdvInspectError, CancelledError, UntrustedModelError
from advinspect.core.jobs import ProgressEvent
from advinspect.core.runs import Run, RunStore, images_fingerprint, make_run
from advinspect.core.status import NOT_ATTACKED
from advinspect.core.tasks.base import Images
from advinspect.gui import tasks
from advinspect.gui.tasks import ModelState
from advinspect.gui.worker import Job, JobRunner, describe


@dataclass
class ImageResult:
    """The latest attack on one image; `status` is the core word (core.status) every consumer shows."""

    x_adv: np.ndarray  # (C, H, W)
    adv_probs: np.ndarray  # (classes,)
    status: str  # flipped / misclassified / held
    linf: float
    l2: float
    l0: int
    attack: str
    params: dict[str, Any]
    cancelled: bool = False


def needs_options(error: BaseException) -> bool:
    """A model file that opens once the user says more (architecture, shape, labels): the model
    dialog can fix these; other load errors are just shown."""
    from advinspect.core.errors import ModelLoadError, SpecMismatchError

    if isinstance(error, UntrustedModelError) or not isinstance(error, ModelLoadError):
        return False
    text = str(error)
    return isinstance(error, SpecMismatchError) or any(
        hint in text for hint in ("--arch", "--input-shape", "unknown architecture", "does not fit architecture",
                                  "cannot find architecture", "labels"))


class Session(QObject):
    """Model, images, predictions and results; commands that run jobs on the worker."""

    attacks_changed = Signal()
    model_changed = Signal()
    model_opened = Signal()  # a model file opened (not a defense or an in-memory model adopted)
    images_changed = Signal()
    results_changed = Signal(list)  # image indices whose result changed
    current_changed = Signal(int)
    selection_changed = Signal(list)
    preview_changed = Signal(int)  # live adversarial of an image changed
    trace_reset = Signal(str, int)  # attack title, iterations
    trace_point = Signal(float, float, float)  # iteration, loss, true-class confidence
    trace_final = Signal(list)
    busy_changed = Signal(bool)
    job_changed = Signal(str)  # name of the running job, "" when idle
    progress = Signal(int, int, str, float)  # step, total, message, eta seconds (-1 unknown)
    attack_started = Signal(str)
    attack_finished = Signal(object)
    ready = Signal()  # a model and its images are loaded and predicted
    message = Signal(str, str, str)  # level, text, details -> Log dock
    error = Signal(str, str, str)  # title, message, details -> error dialog
    trust_needed = Signal(str, object)  # path of a pickle file the user must confirm
    custom_filter_changed = Signal()  # a plot asked the Images dock to show a set of images
    evaluation_changed = Signal()  # a batch evaluation finished (or was cleared)
    defense_changed = Signal()  # an inference-time defense was applied to / removed from the model
    models_changed = Signal()  # an in-memory model was offered for comparison (e.g. a trained one)
    model_needs_options = Signal(str, str, object)  # path, what it lacks, the options tried -> model dialog
    runs_changed = Signal()  # a run was kept, renamed or deleted (or a workspace replaced them)
    run_selected = Signal(object)  # the selected Run (or None): inspector, badges and plots follow it

    def __init__(self, device: str = "auto", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.device = device
        self.runner = JobRunner(self)
        self.runner.job_started.connect(self._on_job_started)
        self.runner.busy_changed.connect(self._on_busy_changed)
        self.attacks: dict[str, type] = {}
        self.clf: Any = None
        self.info: dict[str, Any] = {}
        self.model_path: str | None = None
        self.sources: list[str] = []
        self.images: Images | None = None
        self.probs: np.ndarray | None = None
        self.results: dict[int, ImageResult] = {}
        self.live: dict[int, np.ndarray] = {}
        self.current = -1
        self.selection: list[int] = []
        self.attack_job: Job | None = None
        self.last_attack: Any = None  # core.tasks.attack.Result: what the detector and the report read
        # (label, image indices) set by a plot bin or confusion cell; the Images dock shows them
        self.custom_filter: tuple[str, frozenset[int]] | None = None
        self.evaluation: Any = None  # core.tasks.evaluate.Result on the current model (images.index: rows)
        self.base_clf: Any = None  # the undefended model while a defense is applied, else None
        self.defense: dict[str, Any] | None = None  # {"text", "adaptive", "eot_samples", "summary"}
        self.models: dict[str, Any] = {}  # other in-memory Classifiers to compare with (name -> model)
        self.runs = RunStore()  # every verb's result, kept until the user deletes it
        self.selected_run: Run | None = None
        self.model_config: dict[str, Any] = {}
        self.model_options: dict[str, dict[str, Any]] = {}  # path -> open.Config fields it needed  # the open.Config fields (arch, num_classes) the model needed
        self._attack_steps = 1
        self._attack_indices = np.zeros(0, dtype=np.int64)

    # --- derived state the panels read ----------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.runner.busy

    @property
    def count(self) -> int:
        return 0 if self.images is None else len(self.images)

    @property
    def spec(self) -> Any:
        return None if self.clf is None else self.clf.spec

    @property
    def value_range(self) -> tuple[float, float]:
        return (0.0, 1.0) if self.clf is None else tuple(self.clf.spec.value_range)

    def label_name(self, index: int) -> str:
        if index < 0:
            return "?"
        return self.clf.spec.label_name(int(index)) if self.clf is not None else str(index)

    def label(self, i: int) -> int:
        return int(self.images.labels[i]) if self.images is not None else -1

    def prediction(self, i: int) -> int:
        return int(self.probs[i].argmax()) if self.probs is not None else -1

    def image(self, i: int) -> np.ndarray | None:
        if self.images is None or not 0 <= i < len(self.images):
            return None
        return self.images.x[i]

    def adversarial(self, i: int) -> np.ndarray | None:
        """The live preview while an attack runs on `i`, else the selected run's adversarial, else
        its last attack result, else None."""
        if i in self.live:
            return self.live[i]
        run = self.shown_run()
        if run is not None:
            return run.adversarial(i)
        result = self.results.get(i)
        return None if result is None else result.x_adv

    def adversarial_title(self, i: int) -> str:
        """What the inspector's adversarial view says: which run made it and what it predicts."""
        run = self.shown_run()
        if run is not None:
            pred = run.adv_prediction(i)
            if run.adversarial(i) is None:
                return f"adversarial (not in {run.name})"
            return f"adversarial ({run.name})" + (f" → {self.label_name(pred)}" if pred is not None else "")
        result = self.results.get(i)
        if result is None:
            return "adversarial (not attacked)"
        return f"adversarial ({result.attack}) → {self.label_name(int(result.adv_probs.argmax()))}"

    def status(self, i: int) -> str | None:
        """The core status word of image `i` once attacked (flipped / misclassified / held), None before."""
        run = self.shown_run()
        if run is not None:
            return run.status(i)
        result = self.results.get(i)
        return None if result is None else result.status

    def adversarial_prediction(self, i: int) -> int | None:
        """The class the shown adversarial of image `i` gets (the selected run's, else the latest attack's)."""
        run = self.shown_run()
        if run is not None:
            return run.adv_prediction(i)
        result = self.results.get(i)
        return None if result is None else int(result.adv_probs.argmax())

    def shown_run(self) -> Run | None:
        """The selected run when it has adversarials of the images loaded now (its indices mean them)."""
        run = self.selected_run
        if run is None or not run.has_adversarials or self.images is None:
            return None
        return run if run.images == self.images_fingerprint() else None

    def images_fingerprint(self) -> dict[str, Any]:
        return images_fingerprint(list(self.images.names) if self.images is not None else [])

    def model_record(self) -> dict[str, Any]:
        """What a run and a workspace say about the model: path, sha256, spec, the flags it needed."""
        spec = self.clf.spec.to_dict() if self.clf is not None else None
        return {"path": self.model_path, "sha256": self.info.get("sha256"), "name": self.model_name(),
                "spec": spec, **self.model_config}

    def model_name(self) -> str:
        return Path(self.model_path).name if self.model_path else ("in-memory model" if self.clf is not None else "none")

    # --- commands --------------------------------------------------------------------------
    def start(self, model: str | None, images: list[str], demo: bool, trust_pickle: bool = False,
              options: dict[str, Any] | None = None) -> None:
        """What the app does right after the window shows: find attacks, open the first model.
        `trust_pickle` is the command line's --trust-pickle: the user already confirmed trust."""
        self.runner.submit("find attacks", tasks.discover_attacks, on_done=self._on_attacks,
                           on_error=partial(self._fail, "Cannot list attacks"))
        if model is not None:
            self.open_model(model, sources=images, trust_pickle=trust_pickle, options=options or None)
        elif demo or not images:
            self.open_demo()
        else:
            self.sources = list(images)
            self.log("info", "images will load once a model is open")

    def open_demo(self) -> None:
        from advinspect.core.data.demo import DEMO_MODEL, DEMO_SAMPLES, demo_available

        if not demo_available():
            self._fail("Demo not found", f"the demo model or images are missing under {DEMO_MODEL.parent.parent}", "")
            return
        self.open_model(str(DEMO_MODEL), sources=[str(DEMO_SAMPLES)])

    def open_model(self, path: str, *, sources: list[str] | None = None, trust_pickle: bool = False,
                   spec: Any = None, save_sidecar: bool = False, options: dict[str, Any] | None = None) -> Job:
        """Load a model and refit the images to it; on failure everything stays as it was.
        `options` are `open.Config` fields (arch, num_classes, input_shape …: the model dialog's or
        the command line's); by default the ones this file needed last time. A file that needs
        more than it says (a state_dict's architecture, a shape) asks through `model_needs_options`."""
        sources = list(self.sources if sources is None else sources)
        name = Path(path).name
        options = {k: v for k, v in dict(self.model_options.get(str(path), {}) if options is None
                                          else options).items() if v not in (None, "")}

        def job(progress, cancel) -> ModelState:
            state = tasks.open_model(path, sources, device=self.device, trust_pickle=trust_pickle,
                                     spec=spec, options=options, progress=progress, cancel=cancel)
            if save_sidecar or options:  # what the dialog told, architecture included, is kept
                from advinspect.core.models import write_sidecar

                try:
                    write_sidecar(path, state.clf.spec, arch=options.get("arch"),
                                  num_classes=options.get("num_classes"))
                except OSError as exc:  # a read-only folder: the model is open, the sidecar is not kept
                    self.log("warning", f"could not save the sidecar of {name}: {exc.strerror or exc}")
            return state

        def failed(error: BaseException, details: str) -> None:
            if isinstance(error, UntrustedModelError) and not trust_pickle:
                self.log("warning", str(error))
                self.trust_needed.emit(path, list(error.findings))
                return
            if spec is None and needs_options(error):  # an edited spec's error is shown as it is
                self.log("warning", f"{name}: {error}")
                self.model_needs_options.emit(path, str(error), dict(options))
                return
            self._fail(f"Cannot open {name}", error, details)

        def done(state: ModelState) -> None:
            self.model_config = {k: v for k, v in options.items() if k in ("arch", "num_classes")}
            if options:
                self.model_options[str(path)] = dict(options)
            self._commit_model(path, sources, state)

        self.log("info", f"opening model {path}" + (f" with {options}" if options else ""))
        return self.runner.submit(f"open {name}", job, on_done=done, on_error=failed,
                                  on_progress=self._progress_only)

    def apply_spec(self, spec: Any) -> Job | None:
        """Reload the current model with an edited spec; saved as a sidecar once it fits."""
        if self.model_path is None:
            self._fail("No model file", "the spec of an in-memory model cannot be saved", "")
            return None
        return self.open_model(self.model_path, spec=spec, save_sidecar=True)

    def use_classifier(self, clf: Any, sources: list[str] | None = None,
                       images: Images | None = None) -> Job:
        """Adopt an in-memory Classifier (benchmarks, tests, scripting)."""
        sources = list(self.sources if sources is None else sources)

        def job(progress, cancel) -> ModelState:
            return tasks.open_model(None, [] if images is not None else sources, clf=clf, images=images,
                                    progress=progress, cancel=cancel)

        return self.runner.submit("use model", job, on_done=partial(self._commit_model, None, sources),
                                  on_error=partial(self._fail, "Cannot use the model"))

    def open_images(self, paths: list[str]) -> Job | None:
        """Replace the image set; a failing file is reported, the others still load."""
        if self.clf is None:
            self.sources = list(paths)
            self.log("info", "images will load once a model is open")
            return None
        clf, sources = self.clf, list(paths)

        def job(progress, cancel):
            return tasks.images_with_predictions(clf, sources, progress=progress, cancel=cancel)

        self.log("info", f"opening images {', '.join(sources)}")
        return self.runner.submit("open images", job, on_done=partial(self._commit_images, sources),
                                  on_error=partial(self._fail, "Cannot open images"),
                                  on_progress=self._progress_only)

    def set_current(self, index: int) -> None:
        if index != self.current and (index == -1 or 0 <= index < self.count):
            self.current = index
            self.current_changed.emit(index)

    def set_selection(self, indices: list[int]) -> None:
        indices = sorted(set(int(i) for i in indices if 0 <= i < self.count))
        if indices != self.selection:
            self.selection = indices
            self.selection_changed.emit(indices)

    def run_attack(self, name: str, values: dict[str, Any], indices: list[int] | None = None, *,
                   target: int | None = None, seed: int = 0) -> Job | None:
        """`attack` the images at `indices` (default: the selection, else the current image)."""
        from advinspect.core.tasks import attack as attack_task

        try:
            config, attack, chosen = self._prepare_attack(name, values, indices, target, seed)
        except AdvInspectError as exc:
            self._fail("Cannot run the attack", str(exc), "")
            return None
        assert self.images is not None
        inputs = attack_task.Inputs(self.clf, self.images.subset(chosen))
        targets = None if target is None else np.full(len(chosen), target, dtype=np.int64)

        def job(progress, cancel) -> Any:
            return attack_task.run(inputs, config, progress=progress, cancel=cancel, target=targets)

        self._attack_steps = max(1, int(attack.total_steps()))
        self._attack_indices = chosen
        self.live.clear()
        params = dataclasses.asdict(attack.params)
        self.log("info", f"run {attack.name} on {len(chosen)} image(s), params {params}, seed {seed}, "
                         f"target {self.label_name(target) if target is not None else 'none'}, "
                         f"device {self.info.get('device', '?')}")
        self.trace_reset.emit(attack.title, self._attack_steps)
        self.attack_started.emit(attack.name)
        self.attack_job = self.runner.submit(
            f"{attack.title} on {len(chosen)} image(s)", job, previews=True,
            on_done=self._commit_attack, on_error=self._attack_failed, on_progress=self._attack_progress)
        return self.attack_job

    def run_job(self, name: str, fn: Any, on_done: Any, *, error_title: str | None = None,
                on_error: Any = None, on_progress: Any = None, previews: bool = False) -> Job:
        """Run a panel's job on the worker; a failure is logged and shown, then `on_error` runs
        (so the panel can reset its buttons)."""

        def failed(error: BaseException, details: str) -> None:
            if on_error is not None:
                on_error(error, details)
            self._fail(error_title or f"{name} failed", error, details)

        return self.runner.submit(name, fn, on_done=on_done, on_error=failed, on_progress=on_progress,
                                  previews=previews)

    def set_custom_filter(self, label: str, indices: Any) -> None:
        """Show only these images in the Images dock (a clicked bin or cell), under `label`."""
        chosen = frozenset(int(i) for i in indices if 0 <= int(i) < self.count)
        self.custom_filter = (label, chosen)
        # the plots show an evaluation: its bins and cells open that evaluation's own adversarials
        source = next((r for r in self.runs if r.result is not None and r.result is self.evaluation), None)
        if source is not None and self.selected_run is not source:
            self.select_run(source.id)
        self.log("info", f"images filtered: {label} ({len(chosen)} image(s))")
        self.custom_filter_changed.emit()

    def clear_custom_filter(self) -> None:
        if self.custom_filter is not None:
            self.custom_filter = None
            self.custom_filter_changed.emit()

    def add_model(self, name: str, clf: Any) -> None:
        """Offer an in-memory model (a trained one) to the panels that compare models."""
        self.models[name] = clf
        self.models_changed.emit()

    def set_evaluation(self, outcome: Any) -> None:
        self.evaluation = outcome
        self.evaluation_changed.emit()

    def apply_defense(self, config: Any) -> Job | None:
        """`defend`: put input transforms (a core.tasks.defend.Config) in front of the model. The
        session's classifier becomes a DefendedClassifier, so attacks, saliency and evaluation all
        see the defended model. Replaces any defense applied before."""
        from advinspect.core.tasks import defend

        if self.clf is None:
            self._fail("No model", "open a model first", "")
            return None
        base = self.base_clf if self.base_clf is not None else self.clf
        inputs = defend.Inputs(base, self.images)

        def job(progress, cancel) -> Any:
            return defend.run(inputs, config, progress=progress, cancel=cancel)

        self.log("info", f"apply defense {config.defense} (adaptive {config.adaptive}, EOT samples "
                         f"{config.eot_samples})")
        return self.run_job("apply defense", job, partial(self._commit_defense, base, config),
                            error_title="Cannot apply the defense", on_progress=self._progress_only)

    def remove_defense(self) -> Job | None:
        """Back to the undefended model (predictions recomputed on the worker)."""
        if self.base_clf is None:
            return None
        base, images = self.base_clf, self.images

        def job(progress, cancel) -> ModelState:
            return tasks.open_model(None, [], clf=base, images=images, progress=progress, cancel=cancel)

        self.log("info", "remove the defense")
        return self.run_job("remove defense", job, self._commit_undefended,
                            error_title="Cannot remove the defense", on_progress=self._progress_only)

    # --- runs ----------------------------------------------------------------------------------
    def add_run(self, verb: str, result: Any, *, params: dict[str, Any] | None = None,
                name: str | None = None, select: bool = True) -> Run:
        """Keep `result` (any verb's Result) as a run with the model, defense and images it used."""
        run = make_run(self.runs.new_id(), verb, result, model=self.model_record(),
                       defense=None if self.defense is None else {k: v for k, v in self.defense.items()},
                       images=self.images_fingerprint(), name=name, params=params)
        self.runs.add(run)
        self.runs_changed.emit()
        if select:
            self.select_run(run.id)
        return run

    def select_run(self, run_id: str | None) -> None:
        """Show a run: its adversarials in the inspector and badges, its evaluation in the plots."""
        run = None if run_id is None else self.runs.get(run_id)
        self.selected_run = run
        if run is not None and run.verb == "evaluate":
            self._show_evaluation_run(run)
        self.run_selected.emit(run)
        self.results_changed.emit(list(range(self.count)))

    def _show_evaluation_run(self, run: Run) -> None:
        """An evaluate run in the plots: its live Result, else one rebuilt from its JSON rows (an
        imported evaluation.json, a reopened run). A rebuilt one matches its samples to the open
        images by file name, so it is shown whatever images are open; a live one only on its own."""
        from advinspect.core.tasks import evaluate

        if run.result is None and run.data.get("samples"):
            try:
                run.result = evaluate.Result.from_data(run.data)
            except (AdvInspectError, KeyError, TypeError, ValueError) as exc:
                self.log("warning", f"{run.name}: its plots cannot be shown ({exc})")
                return
        shown = evaluate.plotted(run.result)
        if shown is not None and (run.images == self.images_fingerprint() or shown.images is None):
            if self.evaluation is not run.result:
                self.set_evaluation(run.result)

    def remove_run(self, run_id: str) -> None:
        if self.runs.remove(run_id):
            if self.selected_run is not None and self.selected_run.id == run_id:
                self.select_run(None)
            self.runs_changed.emit()

    def rename_run(self, run_id: str, name: str) -> None:
        self.runs.rename(run_id, name)
        self.runs_changed.emit()

    def import_run(self, path: str) -> Run | None:
        """A CLI results.json / evaluation.json as a run (its numbers; no adversarial arrays)."""
        from advinspect.core.runs import Run as RunType
        from advinspect.core.workspace import import_results

        try:
            verb, data, lines = import_results(path)
        except AdvInspectError as exc:
            self._fail("Cannot import results", str(exc), "")
            return None
        run = RunType(self.runs.new_id(), verb, f"{verb} (imported {Path(path).name})", time.time(),
                      {"path": (data.get("provenance") or {}).get("model") if isinstance(data.get("provenance"), dict)
                       else None}, None, {}, lines, data, {})
        self.runs.add(run)
        self.log("info", f"imported {path} as {run.name}")
        self.runs_changed.emit()
        return run

    def replace_runs(self, runs: list[Run]) -> None:
        self.runs.replace_all(runs)
        self.selected_run = None
        self.runs_changed.emit()
        self.run_selected.emit(None)

    def cancel(self) -> None:
        """Esc: cancel the running job and every queued one (also one submitted a moment ago)."""
        pending = self.runner.pending()
        if pending:
            self.log("info", f"cancelling {', '.join(job.name for job in pending)}")
        self.runner.cancel_all()

    def shutdown(self) -> bool:
        return self.runner.shutdown()

    def log(self, level: str, text: str, details: str = "") -> None:
        self.message.emit(level, text, details)

    # --- internals -------------------------------------------------------------------------
    def _prepare_attack(self, name: str, values: dict[str, Any], indices: list[int] | None,
                        target: int | None, seed: int) -> tuple[Any, Any, np.ndarray]:
        """The attack Config and its built attack (a bad value fails here, before any work)."""
        from advinspect.core.tasks import attack as attack_task

        if self.clf is None or self.images is None or not len(self.images):
            raise AdvInspectError("open a model and images first")
        if self.attack_job is not None:
            raise AdvInspectError("an attack is already running; cancel it first")
        if name not in self.attacks:
            raise AdvInspectError(f"unknown attack {name!r}")
        chosen = indices if indices else (self.selection or ([self.current] if self.current >= 0 else []))
        if not chosen:
            raise AdvInspectError("select at least one image")
        cls = self.attacks[name]
        if target is not None and not cls.supports_targeted:
            raise AdvInspectError(f"{cls.title} has no targeted version")
        params = {k: v for k, v in values.items() if v is not None}
        config = attack_task.Config(attack=name, seed=int(seed), params=params)
        return config, attack_task.build_attack(config), np.asarray(sorted(set(chosen)), dtype=np.int64)

    def _on_attacks(self, attacks: dict[str, type]) -> None:
        self.attacks = dict(attacks)
        self.attacks_changed.emit()

    def _commit_defense(self, base: Any, config: Any, result: Any) -> None:
        """The defended model from `defend`: images stay, predictions are the defended model's."""
        defense = {"text": config.defense, "adaptive": bool(config.adaptive), "eot_samples": int(config.eot_samples),
                   "summary": result.summary_text()}
        self.log("info", "; ".join(result.summary_text()))
        self._swap_model(result.clf, result.clf.describe(), result.probs, base, defense)
        self.add_run("defend", result, params=dataclasses.asdict(config), select=False)

    def _commit_undefended(self, state: ModelState) -> None:
        self._swap_model(state.clf, state.info, state.probs, None, None)

    def _swap_model(self, clf: Any, info: dict[str, Any], probs: np.ndarray | None, base: Any,
                    defense: dict[str, Any] | None) -> None:
        """Swap the classifier in place: images stay, predictions are the new model's, results
        (made against the other model) are dropped."""
        changed = sorted(self.results)
        self.clf, self.info = clf, info
        self.base_clf, self.defense = base, defense
        if probs is not None:
            self.probs = probs
        elif self.images is not None and tasks.is_lazy(self.images):  # the new model's, in the background
            self.probs = None
            self._predict_in_background(self.images)
        self.results.clear()
        self.live.clear()
        self.last_attack = None
        self.custom_filter = None
        self.evaluation = None
        self.log("info", f"model is now {clf.describe_short()}")
        self.model_changed.emit()
        self.defense_changed.emit()
        self.evaluation_changed.emit()
        self.custom_filter_changed.emit()
        self.results_changed.emit(changed)
        if self.current >= 0:
            self.current_changed.emit(self.current)

    def _commit_model(self, path: str | None, sources: list[str], state: ModelState) -> None:
        first = self.clf is None
        had_defense = self.base_clf is not None
        self.base_clf, self.defense, self.last_attack = None, None, None
        if self.evaluation is not None or self.custom_filter is not None:
            self.evaluation, self.custom_filter = None, None
            self.evaluation_changed.emit()
            self.custom_filter_changed.emit()
        if had_defense:
            self.defense_changed.emit()
        self.clf, self.info, self.model_path = state.clf, state.info, path
        self.results.clear()
        self.live.clear()
        self.log("info", f"model {state.clf.describe_short()} on {state.info.get('device')} "
                         f"loaded in {state.seconds:.2f} s")
        if path is not None:
            self.model_opened.emit()
        self.model_changed.emit()
        if state.images is not None:
            self.sources = sources
            self._set_images(state.images, state.probs)
        elif self.images is not None:  # an in-memory model with no sources: images do not fit
            self.images, self.probs = None, None
            self._set_images(None, None)
        if first or self.images is not None:
            self.ready.emit()

    def _commit_images(self, sources: list[str], loaded: tuple[Images, np.ndarray]) -> None:
        self.sources = sources
        self.results.clear()
        self.live.clear()
        self._set_images(*loaded)

    def _set_images(self, images: Images | None, probs: np.ndarray | None) -> None:
        self.images, self.probs = images, probs
        if self.evaluation is not None or self.custom_filter is not None:  # indices meant other images
            self.evaluation, self.custom_filter = None, None
            self.evaluation_changed.emit()
            self.custom_filter_changed.emit()
        self.current, self.selection = -1, []
        # Every view learns of the new images before any dialog runs its own event loop: the
        # broken-images dialog used to repaint the Images dock against the old rows (IndexError).
        self.images_changed.emit()
        if images is not None and len(images):
            self.set_current(0)
            self.set_selection([0])
        if images is not None and probs is None:
            self.log("info", f"{len(images)} images listed; full images are read when shown, "
                             "predictions follow in the background")
            self._predict_in_background(images)
        elif images is not None:
            correct = int((probs.argmax(1) == images.labels).sum()) if images.has_labels else None
            acc = f", clean accuracy {correct}/{len(images)}" if correct is not None else ""
            self.log("info", f"{len(images)} images loaded{acc}")
            if images.errors:
                self._fail("Some images could not be read",
                           f"{len(images.errors)} file(s) failed; the other {len(images)} loaded",
                           "\n".join(images.errors))

    def _predict_in_background(self, images: Images) -> None:
        """Predictions of a lazily opened set, streamed chunk by chunk; they land only if the
        same images (and model) are still open."""
        clf = self.clf
        if clf is None:
            return

        def job(progress, cancel) -> np.ndarray:
            return tasks.predict_streamed(clf, images, progress=progress, cancel=cancel)

        def done(probs: np.ndarray) -> None:
            if self.images is not images or self.clf is not clf:
                return
            self.probs = probs
            correct = int((probs.argmax(1) == images.labels).sum()) if images.has_labels else None
            acc = f": clean accuracy {correct}/{len(images)}" if correct is not None else ""
            self.log("info", f"predicted {len(images)} images{acc}")
            broken = list(getattr(images.x, "errors", []))
            if broken:  # decoded only now: a broken file reads as zeros and is named here
                self._fail("Some images could not be read", f"{len(broken)} file(s) failed and read as blank "
                           "images", "\n".join(broken))
            self.results_changed.emit(list(range(len(images))))
            if self.current >= 0:
                self.current_changed.emit(self.current)

        self.runner.submit("predict images", job, on_done=done, on_error=partial(self._fail, "Cannot predict the images"),
                           on_progress=self._progress_only)

    def _progress_only(self, event: ProgressEvent) -> None:
        self.progress.emit(event.step, event.total, event.message, self._eta(event))

    def _eta(self, event: ProgressEvent) -> float:
        job = self.runner.current
        if job is None or job.started is None or event.step <= 0 or event.total <= 0:
            return -1.0
        elapsed = time.monotonic() - job.started
        return elapsed * (event.total - event.step) / event.step

    def _attack_progress(self, event: ProgressEvent) -> None:
        self._progress_only(event)
        preview = event.preview
        if not isinstance(preview, dict):
            return
        iteration = event.step / max(1, event.total) * self._attack_steps
        if "loss" in preview or "confidence" in preview:
            self.trace_point.emit(iteration, float(preview.get("loss", np.nan)),
                                  float(preview.get("confidence", np.nan)))
        x_adv = preview.get("x_adv")
        if x_adv is None:
            return
        offset = int(preview.get("offset", 0))
        for j in range(len(x_adv)):
            k = offset + j
            if k < len(self._attack_indices):
                self.live[int(self._attack_indices[k])] = x_adv[j]
        if self.current in self.live:
            self.preview_changed.emit(self.current)

    def _commit_attack(self, result: Any) -> None:
        """Keep the attack's Result (core.tasks.attack) and one ImageResult per attacked image,
        with the core status word; images a cancel never reached get none."""
        self.attack_job = None
        self.live.clear()
        r = result.attack
        changed = []
        for k, index in enumerate(result.images.index.tolist()):
            if result.statuses[k] == NOT_ATTACKED:
                continue
            self.results[index] = ImageResult(
                x_adv=r.x_adv[k], adv_probs=result.adv_probs[k], status=result.statuses[k],
                linf=float(r.linf[k]), l2=float(r.l2[k]), l0=int(r.l0[k]), attack=r.attack,
                params=dict(r.params), cancelled=bool(r.cancelled))
            changed.append(index)
        for line in result.summary_text():
            self.log("warning" if line.startswith("warning:") else "info", line)
        self.trace_final.emit(list(r.trace))
        self.last_attack = result
        self.add_run("attack", result, select=False)
        self.selected_run = None  # the inspector shows the newest attack: the session's results
        self.results_changed.emit(changed)
        if self.current >= 0:
            self.preview_changed.emit(self.current)
        self.attack_finished.emit(result)

    def _attack_failed(self, error: BaseException, details: str) -> None:
        self.attack_job = None
        self.live.clear()
        if self.current >= 0:
            self.preview_changed.emit(self.current)
        self._fail("Attack failed", error, details)
        self.attack_finished.emit(None)

    def _fail(self, title: str, error: BaseException | str, details: str) -> None:
        """Log and show an error; a cancellation the user asked for is only logged."""
        if isinstance(error, CancelledError):
            self.log("info", str(error))
            return
        message = error if isinstance(error, str) else describe(error)
        self.log("error", f"{title}: {message}", details)
        self.error.emit(title, message, details)

    def _on_job_started(self, job: Job) -> None:
        self.job_changed.emit(job.name)

    def _on_busy_changed(self, busy: bool) -> None:
        if not busy:
            self.job_changed.emit("")
        self.busy_changed.emit(busy)
