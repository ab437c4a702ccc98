"""The package as users get it: a wheel installed into a fresh venv, used from a temporary directory.

This is the test that catches "works in the checkout, fails after pip install": only the
``tinygrad_rnn`` namespace is installed (no top-level ``viz`` or ``models``), the drawing and
the model import and run from anywhere, and a missing extra is one line that names it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    # built from a copy of the sources: setuptools reuses a build/ directory, which would put a module that
    # is no longer in the checkout (or no longer in pyproject's package list) into the wheel
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "mutants", "build", "out", "results",
                                                                 "*.egg-info", "__pycache__", ".hypothesis"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp / "dist"), str(source)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp / "dist").glob("tinygrad_rnn-*.whl")
    env_dir = tmp / "fresh"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # unpack the wheel the way an installer does (pure Python: copy the files); dependencies (numpy,
    # graphviz, ...) come from this test venv through a .pth line, which adds no package of ours
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        zf.extractall(site)
    (site / "zz_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp / "elsewhere"
    work.mkdir()
    return {"python": str(python), "site": site, "names": names, "work": work, "wheel": wheel}


def run(env, code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([env["python"], *(["-c", code] if code else []), *args], cwd=env["work"],
                          capture_output=True, text=True, timeout=300)


def test_the_wheel_holds_one_namespace(installed):
    tops = {n.split("/")[0] for n in installed["names"]}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"tinygrad_rnn"}
    for expected in ("tinygrad_rnn/viz/graph.py", "tinygrad_rnn/models/attention_rnn.py",
                     "tinygrad_rnn/models/draw.py", "tinygrad_rnn/models/data/corpus.txt",
                     "tinygrad_rnn/models/explore.py", "tinygrad_rnn/viz/assets/explore.js",
                     "tinygrad_rnn/viz/assets/explore.css", "tinygrad_rnn/viz/assets/explore.html"):
        assert expected in installed["names"], expected
    # every module of the checkout, and no other (a package left out of pyproject's list, a stale build/)
    checkout = {f"tinygrad_rnn/{where}{p.relative_to(ROOT / src).as_posix()}"
                for src, where in (("tinygrad_rnn", ""), ("models", "models/"), ("viz", "viz/"))
                for p in (ROOT / src).rglob("*.py")}
    assert {n for n in installed["names"] if n.endswith(".py")} == checkout
    meta = next(n for n in installed["names"] if n.endswith("METADATA"))
    requires = [ln for ln in (installed["site"] / meta).read_text().splitlines() if ln.startswith("Requires-Dist:")]
    hard = [r for r in requires if "extra ==" not in r]
    assert hard == ["Requires-Dist: numpy>=1.24"], hard  # the engine needs numpy only


def test_draw_and_model_from_anywhere(installed):
    code = (
        "import tinygrad_rnn as tg, pathlib\n"
        "from tinygrad_rnn import viz\n"
        "from tinygrad_rnn.models import AttentionRNN\n"
        "from tinygrad_rnn.models import closed_form, train\n"
        "assert 'fresh' in tg.__file__, tg.__file__\n"
        "a = tg.Tensor(2.0, requires_grad=True, name='a'); b = tg.Tensor(-3.0, requires_grad=True, name='b')\n"
        "L = (a * b + 10.0) * -2.0; L.backward()\n"
        "viz.render(viz.draw(L), 'micrograd.svg')\n"
        "m = AttentionRNN(2, 3, 3, seed=0)\n"
        "print('ok', pathlib.Path('micrograd.svg').stat().st_size > 0)\n"
    )
    out = run(installed, code)
    assert out.returncode == 0 and out.stdout.strip() == "ok True", out.stderr
    for generic in ("viz", "models"):
        assert not (installed["site"] / generic).exists()
        assert run(installed, f"import {generic}").returncode != 0


def test_command_lines_from_anywhere(installed):
    drawn = run(installed, "", "-m", "tinygrad_rnn.models.draw", "--steps", "2", "-o", "u.svg")
    assert drawn.returncode == 0 and (installed["work"] / "u.svg").exists(), drawn.stderr
    page = run(installed, "", "-m", "tinygrad_rnn.models.explore", "--steps", "2", "-o", "walk.html")
    assert page.returncode == 0, page.stderr
    assert "walk-data" in (installed["work"] / "walk.html").read_text(encoding="utf-8")
    helptext = run(installed, "", "-m", "tinygrad_rnn.models.train", "--help")
    assert helptext.returncode == 0 and "--task" in helptext.stdout


def test_a_missing_extra_is_one_line_naming_it(installed):
    block = "import sys; sys.modules['graphviz'] = None; sys.modules['tqdm'] = None\n"
    lib = run(installed, block + "from tinygrad_rnn import viz")
    assert "pip install 'tinygrad_rnn[viz]'" in lib.stderr
    for module, extra, argv in (("tinygrad_rnn.models.draw", "viz", "'-o', 'u.svg'"),
                                ("tinygrad_rnn.models.explore", "viz", "'-o', 'u.html'"),
                                ("tinygrad_rnn.models.train", "train", "'--out', 'run'")):
        cli = run(installed, block + f"import runpy; sys.argv = ['x', {argv}]; "
                  f"runpy.run_module('{module}', run_name='__main__')")
        assert cli.returncode == 1 and cli.stderr.strip() == cli.stderr.strip().splitlines()[0], cli.stderr
        assert f"pip install 'tinygrad_rnn[{extra}]'" in cli.stderr and "Traceback" not in cli.stderr
    assert run(installed, block + "import tinygrad_rnn as tg; print(tg.Tensor(1.0) + 1)").returncode == 0


def test_the_readmes_python_blocks_run_after_a_plain_install(installed):
    import re

    blocks = [b for page in (ROOT / "README.md", ROOT / "docs" / "guide" / "testing.md")
              for b in re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)]
    script = installed["work"] / "readme_blocks.py"
    script.write_text("\n".join(blocks))
    out = run(installed, "", str(script))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "suspect rule: 'my_tanh_wrong'" in out.stdout


def test_the_testing_extra_installs_without_torch_in_a_fresh_venv(installed, tmp_path):
    """`pip install 'tinygrad_rnn[testing]'` into an empty venv, from the package index: hypothesis and
    numpy arrive, torch and pytest do not, and a hypothesis-driven hand-gradient check runs."""
    wheel = installed["wheel"]
    env_dir = tmp_path / "testing-venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    got = subprocess.run([python, "-m", "pip", "install", "-qq", f"{wheel}[testing]"], capture_output=True,
                         text=True, timeout=900)
    assert got.returncode == 0, got.stderr[-2000:]
    code = ("import importlib.util as u, numpy as np, tinygrad_rnn as tg\n"
            "assert u.find_spec('torch') is None and u.find_spec('pytest') is None\n"
            "from hypothesis import strategies as st\n"
            "cases = st.fixed_dictionaries({'a': tg.testing.arrays((3,))})\n"
            "tg.testing.check_gradient(lambda a: (a * a).sum(), lambda a: {'a': 2 * a}, cases)\n"
            "try:\n"
            "    tg.testing.check_gradient(lambda a: (a * a).sum(), lambda a: {'a': a}, cases)\n"
            "except tg.testing.HandGradientError as e:\n"
            "    print('caught:', str(e).split(':')[0])\n")
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "caught: hand gradient of 'a' is wrong" in out.stdout
