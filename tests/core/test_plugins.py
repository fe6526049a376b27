"""Plugins: entry points and the opt-in folder register attacks and defenses; a broken plugin is
recorded with its error and never stops the app; the example MI-FGSM package installs and runs
end to end through `advinspect attack`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from advinspect.core import plugins
from advinspect.core.attacks import registry
from advinspect.core.defenses import transforms

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "plugin_attack"


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch):
    """Restore the registries and forget loaded plugins after each test."""
    registry.all_attacks()
    attacks, defenses = dict(registry.ATTACKS), dict(transforms.TRANSFORMS)
    monkeypatch.delenv(plugins.ENABLE_ENV, raising=False)
    yield
    registry.ATTACKS.clear()
    registry.ATTACKS.update(attacks)
    transforms.TRANSFORMS.clear()
    transforms.TRANSFORMS.update(defenses)
    plugins._records = None
    for name in [m for m in sys.modules if m.startswith(("advinspect_plugin_", "advinspect_mifgsm", "fake_plug"))]:
        del sys.modules[name]


def _dist(site: Path, name: str, entry_points: str) -> None:
    """A minimal installed distribution (dist-info) with the given entry_points.txt."""
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/plugin_attack installed with pip --target (offline, no build isolation)."""
    tmp = tmp_path_factory.mktemp("plugin")
    src = tmp / "src"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(site), str(src)], check=True, capture_output=True, timeout=120)
    assert (site / "advinspect_mifgsm" / "__init__.py").exists()
    return site


def test_entry_point_attack_and_defense_register(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 clean_registry) -> None:
    (tmp_path / "fake_plug.py").write_text(textwrap.dedent('''
        from dataclasses import dataclass
        from typing import ClassVar
        from advinspect.core.attacks.gradient import FGSM
        from advinspect.core.defenses.transforms import Transform

        class Twice(FGSM):
            name = "twice"
            title = "FGSM again"

        @dataclass(frozen=True)
        class Invert(Transform):
            amount: float = 1.0
            name: ClassVar[str] = "invert"
            def apply(self, x, generator=None):
                return self.amount - x
            def describe(self):
                return f"invert {self.amount}"
    '''))
    _dist(tmp_path, "fake_plug", """
        [advinspect.attacks]
        twice = fake_plug:Twice
        [advinspect.defenses]
        invert = fake_plug:Invert
    """)
    monkeypatch.syspath_prepend(str(tmp_path))
    records = {r.name: r for r in plugins.load_plugins(reload=True)}
    assert records["twice"].ok and records["twice"].provides == ("twice",)
    assert records["twice"].origin == "fake_plug 1.0"
    assert registry.get_attack("twice").title == "FGSM again"
    (invert,) = transforms.parse_defense("invert:0.5")
    assert invert.amount == 0.5 and invert.describe() == "invert 0.5"
    # listed where users look: the GUI's defense tooltip and the CLI's help read this
    assert any(line.startswith("invert:AMOUNT") for line in transforms.available_defenses())


def test_broken_plugins_are_recorded_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                clean_registry) -> None:
    (tmp_path / "fake_plug_bad.py").write_text("raise RuntimeError('plugin exploded')\n")
    (tmp_path / "fake_plug_clash.py").write_text(textwrap.dedent('''
        from advinspect.core.attacks.gradient import BIM
        class Pgd2(BIM):
            name = "pgd"   # taken by the built-in
            title = "not PGD"
    '''))
    _dist(tmp_path, "fake_plug_bad", """
        [advinspect.attacks]
        boom = fake_plug_bad:Anything
        gone = fake_plug_nowhere:Attack
        clash = fake_plug_clash:Pgd2
        [advinspect.defenses]
        notransform = fake_plug_clash:Pgd2
    """)
    monkeypatch.syspath_prepend(str(tmp_path))
    records = {r.name: r for r in plugins.load_plugins(reload=True)}
    assert records["boom"].error == "RuntimeError: plugin exploded"
    assert records["gone"].error.startswith("ModuleNotFoundError")
    assert "taken by advinspect.core.attacks.gradient.PGD" in records["clash"].error
    assert "not a Transform" in records["notransform"].error
    assert registry.get_attack("pgd").title == "PGD"  # the built-in survives
    assert "fgsm" in registry.all_attacks()


def test_folder_needs_opt_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_registry) -> None:
    (tmp_path / "loose.py").write_text(textwrap.dedent('''
        from advinspect.core.attacks.gradient import FGSM
        class Loose(FGSM):
            name = "loose"
            title = "loose FGSM"
    '''))
    (tmp_path / "empty.py").write_text("X = 1\n")
    monkeypatch.setenv(plugins.DIR_ENV, str(tmp_path))
    assert plugins.plugin_folder() == tmp_path
    plugins.load_plugins(reload=True)
    assert "loose" not in registry.all_attacks()  # present but not enabled: no code ran
    monkeypatch.setenv(plugins.ENABLE_ENV, "1")
    records = {r.name: r for r in plugins.load_plugins(reload=True)}
    assert records["loose.py"].provides == ("loose",) and records["loose.py"].group == "folder"
    assert "no Attack or Transform" in records["empty.py"].error
    assert registry.get_attack("loose").title == "loose FGSM"


def test_example_mifgsm_runs_on_the_engine(installed_example: Path, monkeypatch: pytest.MonkeyPatch,
                                           clean_registry, tiny_clf, tiny_batch) -> None:
    monkeypatch.syspath_prepend(str(installed_example))
    records = {r.name: r for r in plugins.load_plugins(reload=True)}
    assert records["mifgsm"].origin == "advinspect-mifgsm 0.1.0"
    cls = registry.get_attack("mifgsm")
    result = cls.from_values({"eps": "0.5", "steps": "5"}).run(tiny_clf, tiny_batch)
    assert result.attack == "mifgsm" and result.n == len(tiny_batch)
    assert result.linf.max() <= 0.5 + 1e-6
    assert result.success.any()
    assert (result.iterations == 5).all()
    # decay 0 is BIM with step eps/steps and no early stop: the same adversarials
    plain = cls.from_values({"eps": "0.1", "steps": "3", "decay": "0"}).run(tiny_clf, tiny_batch)
    bim = registry.get_attack("bim").from_values(
        {"eps": "0.1", "steps": "3", "step_size": str(0.1 / 3), "early_stop": "false"}).run(tiny_clf, tiny_batch)
    assert torch.allclose(torch.from_numpy(plain.x_adv), torch.from_numpy(bim.x_adv), atol=1e-6)


@pytest.mark.slow  # a subprocess or an exhaustive search: runs in `make test`, not test-quick
def test_example_plugin_end_to_end_through_the_cli(installed_example: Path, tmp_path: Path) -> None:
    """The plugin installed into the plugins folder, enabled, run by `advinspect attack`."""
    images = tmp_path / "images"
    for digit in ("3", "7"):
        (images / digit).mkdir(parents=True)
        for src in sorted((ROOT / "resources" / "samples" / "digits" / digit).glob("*.png"))[:4]:
            shutil.copy(src, images / digit / src.name)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT), ADVINSPECT_PLUGINS_DIR=str(installed_example))
    env[plugins.ENABLE_ENV] = "1"
    command = [sys.executable, "-m", "advinspect", "attack", str(ROOT / "resources/models/digits_cnn.pt2"),
               str(images), "--attack", "mifgsm", "--eps", "0.2", "--param", "decay=1.0", "--out", str(out)]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    summary = results["summary"]
    assert summary["attack"] == "mifgsm" and summary["n"] == 8
    assert summary["params"] == {"eps": 0.2, "steps": 10, "decay": 1.0, "step_size": None}
    assert summary["success_rate"] > 0.5
    assert all(s["iterations"] == 10 and s["linf"] <= 0.2 + 1e-5 for s in results["samples"])
    assert len(list((out / "adversarial").rglob("*.png"))) == 8
