"""The README's Python blocks run, in order, and do what they say."""

from __future__ import annotations

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_blocks_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 4
    namespace: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"<README.md python block {i + 1}>", "exec"), namespace)
    out = capsys.readouterr().out
    assert "suspect rule: 'my_tanh_wrong'" in out  # the negative control in the README fails as promised
    assert "hand gradient of 'U' is wrong at sizes B=1, D=1, H=1, K=2, T=1\n" in out  # the seed's eqs as printed
    assert "hand gradient of 'V' is wrong at sizes B=1, D=1, H=1, K=2, T=2\n" in out
    assert "tanh((2,)) -> (2,) @t=2 {'eq': 1}" in out
    assert "xor: [0 1 1 0] loss 0.00" in out  # the nn example learns XOR, as it says
    m = re.search(r"char GRU: loss ([\d.]+) \(uniform guess ([\d.]+)\)", out)
    assert m and float(m.group(1)) < 0.5 * float(m.group(2))  # and the GRU beats a uniform guess by far
