"""docs/make_gallery.py renders one non-empty PNG per public plot function and an index that names each."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docs" / "make_gallery.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@functools.lru_cache(maxsize=1)
def _gallery_module():
    spec = importlib.util.spec_from_file_location("make_gallery", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_gallery"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_public_plot_function_is_known():
    # independent listing: every public callable named plot_* in each plots module
    import plsim.plots as plots_pkg

    expected = set()
    for info in sorted((ROOT / "plsim" / "plots").glob("*.py")):
        if info.stem.startswith("_") or info.stem == "style":
            continue
        mod = importlib.import_module(f"{plots_pkg.__name__}.{info.stem}")
        expected |= {(info.stem, f) for f in mod.__all__ if f.startswith("plot_") and callable(getattr(mod, f))}
    assert set(_gallery_module().public_plot_functions()) == expected
    assert len(expected) >= 21


@pytest.mark.slow
def test_gallery_renders_every_figure(tmp_path):
    out = tmp_path / "figures"
    run = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), "--dpi", "60"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    index = (out / "README.md").read_text(encoding="utf-8")
    for module, function in _gallery_module().public_plot_functions():
        png = out / f"{module}_{function}.png"
        assert png.is_file(), f"no figure for plsim.plots.{module}.{function}"
        data = png.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000, f"{png.name} is empty or not a PNG"
        line = next((ln for ln in index.splitlines() if f"`plsim.plots.{module}.{function}`" in ln), None)
        assert line is not None, f"README.md does not list {function}"
        assert any(kind in line for kind in ("measured", "simulated", "predicted", "counted")), line
    assert len(list(out.glob("*.png"))) == len(_gallery_module().public_plot_functions())
