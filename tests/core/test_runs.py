"""Runs and workspaces with no Qt: a verb's Result kept as a run, written as JSON + .npz, read
back with allow_pickle=False to the same numbers; the model file checked by sha256."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from advinspect.core import workspace
from advinspect.core.runs import RunStore, agreement, images_fingerprint, make_run
from advinspect.core.workspace import Workspace, WorkspaceError, check_model


@dataclass
class _Images:
    index: np.ndarray


@dataclass
class _Attack:
    attack: str
    params: dict[str, Any]
    x_adv: np.ndarray
    adv_pred: np.ndarray
    linf: np.ndarray
    l2: np.ndarray
    l0: np.ndarray
    labels: np.ndarray
    clean_pred: np.ndarray
    cancelled: bool = False


@dataclass
class _Result:
    """Shaped like core.tasks.attack.Result where runs read it."""

    attack: _Attack
    images: _Images
    statuses: list[str]
    adv_probs: np.ndarray
    warnings: list[str] = field(default_factory=list)

    @property
    def cancelled(self) -> bool:
        return self.attack.cancelled

    def summary_text(self) -> list[str]:
        return [f"{self.attack.attack}: {len(self.statuses)} images, eps {self.attack.params['eps']}"]

    def to_dict(self) -> dict[str, Any]:
        return {"summary": {"attack": self.attack.attack, "n": len(self.statuses), "median": float("nan")}}


def fake_attack(name: str, index: list[int], preds: list[int], statuses: list[str], eps: float = 0.1) -> _Result:
    rng = np.random.default_rng(len(name))
    n = len(index)
    x_adv = rng.random((n, 1, 8, 8), dtype=np.float32)
    probs = np.eye(3, dtype=np.float32)[preds]
    return _Result(_Attack(name, {"eps": eps, "norm": "linf"}, x_adv, np.asarray(preds), np.full(n, eps),
                           np.full(n, 2 * eps), np.full(n, 5), np.zeros(n, int), np.zeros(n, int)),
                   _Images(np.asarray(index)), statuses, probs)


IMAGES = images_fingerprint(["a.png", "b.png", "c.png", "d.png"])
MODEL = {"path": None, "sha256": None, "name": "in-memory model"}


def _store() -> RunStore:
    store = RunStore()
    store.add(make_run(store.new_id(), "attack", fake_attack("pgd", [0, 1, 2], [1, 0, 2], ["flipped", "held", "held"]),
                       model=MODEL, defense=None, images=IMAGES))
    store.add(make_run(store.new_id(), "attack", fake_attack("cw", [1, 2, 3], [0, 1, 0],
                                                              ["held", "flipped", "misclassified"]),
                       model=MODEL, defense={"text": "jpeg:75", "adaptive": True}, images=IMAGES))
    return store


def test_a_result_becomes_a_run_with_its_adversarials_and_json_safe_data() -> None:
    run = _store().runs[0]
    assert run.id == "run-1" and run.name == "attack pgd eps 0.1"
    assert run.params == {"attack": "pgd", "eps": 0.1, "norm": "linf"}
    assert run.data["summary"]["median"] is None  # NaN made JSON-safe
    json.dumps(run.meta(), allow_nan=False)
    assert run.status(0) == "flipped" and run.adv_prediction(0) == 1 and run.adversarial(3) is None
    np.testing.assert_array_equal(run.adversarial(2), run.result.attack.x_adv[2])
    # a parameter JSON has no form for is kept as its text: the run is never lost
    odd = make_run("run-9", "compare", run.result, model=MODEL, defense=None, images=IMAGES,
                   params={"models": [object.__new__(RunStore)], "eps": (0.1, float("inf"))})
    assert odd.params["models"][0].startswith("<advinspect.core.runs.RunStore") and odd.params["eps"] == [0.1, None]


def test_store_filter_rename_delete_and_agreement() -> None:
    store = _store()
    assert [r.id for r in store.matching("cw")] == ["run-2"]
    assert len(store.matching("")) == 2
    store.rename("run-2", "  CW adaptive ")
    assert store.get("run-2").name == "CW adaptive"
    agree = agreement(store.runs[0], store.runs[1])
    # images 1 and 2 are in both: same prediction on 1 (0 = 0), not on 2 (2 vs 1)
    assert agree == {"common": 2, "same_prediction": 1, "same_status": 1, "differ": [2]}
    assert store.remove("run-1") and not store.remove("run-1")
    assert store.new_id() == "run-3"  # ids are never reused


def test_workspace_round_trip_same_runs_same_numbers(tmp_path: Path) -> None:
    store = _store()
    saved = Workspace(None, ["samples/"], {"text": "jpeg:75"}, list(store), layout="00ff")
    workspace.save(tmp_path / "ws", saved)
    assert sorted(p.name for p in (tmp_path / "ws" / "runs").iterdir()) == ["run-1.npz", "run-2.npz"]
    loaded = workspace.load(tmp_path / "ws")
    assert loaded.sources == ["samples/"] and loaded.defense == {"text": "jpeg:75"} and loaded.layout == "00ff"
    assert [r.meta() for r in loaded.runs] == [r.meta() for r in store.runs]
    for before, after in zip(store.runs, loaded.runs, strict=True):
        assert sorted(before.arrays) == sorted(after.arrays)
        for key, value in before.arrays.items():
            np.testing.assert_array_equal(after.arrays[key], value)
    # a run deleted before the next save leaves no stale arrays behind
    workspace.save(tmp_path / "ws", Workspace(None, [], runs=[store.runs[1]]))
    assert [p.name for p in (tmp_path / "ws" / "runs").iterdir()] == ["run-2.npz"]
    reopened = RunStore()
    reopened.replace_all(workspace.load(tmp_path / "ws").runs)
    assert reopened.new_id() == "run-3"


def test_large_arrays_are_their_own_files_mapped_on_open(tmp_path: Path, monkeypatch) -> None:
    """A large folder's adversarials reopen memory-mapped, not read into memory; saving again
    into the folder they are mapped from keeps them; a pickle in one is refused."""
    monkeypatch.setattr(workspace, "MAPPED_BYTES", 1000)  # the 3x1x8x8 float32 x_adv (768 B) stays small
    store = _store()
    big = fake_attack("fgsm", list(range(40)), [0] * 40, ["held"] * 40)  # x_adv: 40x1x8x8 float32, 10 KB
    store.add(make_run(store.new_id(), "attack", big, model=MODEL, defense=None, images=IMAGES))
    folder = tmp_path / "ws"
    workspace.save(folder, Workspace(None, [], runs=list(store)))
    names = sorted(p.name for p in (folder / "runs").iterdir())
    mapped = [n for n in names if n.endswith(".npy")]
    assert [n for n in names if n.endswith(".npz")] == ["run-1.npz", "run-2.npz", "run-3.npz"]
    assert len(mapped) == 1 and mapped[0].startswith("run-3-") and mapped[0].endswith(".x_adv.npy")
    loaded = workspace.load(folder).runs[2]
    assert isinstance(loaded.arrays["x_adv"], np.memmap)  # paged in image by image
    np.testing.assert_array_equal(loaded.arrays["x_adv"], big.attack.x_adv)
    np.testing.assert_array_equal(loaded.adversarial(7), big.attack.x_adv[7])
    assert not isinstance(workspace.load(folder).runs[0].arrays["x_adv"], np.memmap)
    workspace.save(folder, Workspace(None, [], runs=[loaded]))  # saved from what is mapped from there
    np.testing.assert_array_equal(workspace.load(folder).runs[0].arrays["x_adv"], big.attack.x_adv)
    assert sorted(p.name for p in (folder / "runs").iterdir()) == sorted(["run-3.npz", mapped[0]])
    np.save(folder / "runs" / mapped[0], np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(WorkspaceError, match="run-3: cannot read"):
        workspace.load(folder)


def test_workspace_refuses_pickles_and_foreign_files(tmp_path: Path) -> None:
    store = _store()
    folder = tmp_path / "ws"
    workspace.save(folder, Workspace(None, [], runs=list(store)))
    np.savez(folder / "runs" / "run-1.npz", x_adv=np.array([{"a": 1}], dtype=object))  # a pickle inside
    with pytest.raises(WorkspaceError, match="run-1: cannot read"):
        workspace.load(folder)
    (folder / "workspace.json").write_text('{"format": "something else"}')
    with pytest.raises(WorkspaceError, match="not an advinspect workspace"):
        workspace.load(folder)
    with pytest.raises(WorkspaceError, match="not a workspace"):
        workspace.load(tmp_path / "missing")


def test_a_moved_or_changed_model_is_named(tmp_path: Path) -> None:
    from advinspect.core.models.base import file_sha256

    model = tmp_path / "m.onnx"
    model.write_bytes(b"model bytes")
    record = {"path": str(model), "sha256": file_sha256(model)}
    assert check_model(record).ok
    model.write_bytes(b"other bytes")
    check = check_model(record)
    assert check.state == "changed" and str(model) in check.message
    model.unlink()
    check = check_model(record)
    assert check.state == "missing" and str(model) in check.message
    assert check_model(None).state == "none"


def test_import_cli_results(tmp_path: Path) -> None:
    evaluation = {"n": 4, "clean_accuracy": 1.0, "calibration": {}, "curves": [
        {"attack": "pgd", "eps": [0.0, 0.1], "robust_accuracy": [1.0, 0.25]}]}
    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps(evaluation))
    verb, data, lines = workspace.import_results(path)
    assert verb == "evaluate" and data == evaluation and "pgd robust accuracy by eps: 0: 1.0000, 0.1: 0.2500" in lines
    path.write_text(json.dumps({"summary": {"attack": "fgsm", "n": 3, "robust_accuracy": 0.5, "success_rate": 0.5},
                                "samples": []}))
    assert workspace.import_results(path)[0] == "attack"
    path.write_text("[1, 2]")
    with pytest.raises(WorkspaceError, match="not a results file"):
        workspace.import_results(path)


def test_report_of_runs_with_comparison_and_reproduce_command(tmp_path: Path) -> None:
    from advinspect.core.run_report import reproduce_command, write_runs_report

    store = _store()
    first = store.runs[0]
    first.model = {"path": "/m/digits.pt", "name": "digits.pt", "sha256": "ab" * 32, "arch": "pkg.mod:Net"}
    assert reproduce_command(first, ["imgs/"]) == ("advinspect attack /m/digits.pt imgs/ --arch pkg.mod:Net "
                                                    "--attack pgd --eps 0.1 --norm linf --out OUT")
    assert "--defense jpeg:75 --adaptive" in reproduce_command(store.runs[1], ["imgs/"])
    x = np.zeros((4, 1, 8, 8), dtype=np.float32)
    path = write_runs_report(tmp_path / "report.html", list(store), names=["a.png", "b.png", "c.png", "d.png"], x=x)
    html = path.read_text()
    assert "comparison: attack pgd eps 0.1 vs attack cw eps 0.1" in html
    assert "same adversarial class on 1/2" in html and "differ on images 2" in html
    assert "defense: jpeg:75 (adaptive attacks)" in html and "sha256 abababababababab" in html
    assert html.count("data:image/png;base64,") == 2  # one image grid per attack run
    assert "<td>d.png</td>" in html and "misclassified" in html
