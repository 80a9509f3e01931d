"""The README's library snippet runs as pasted (from the checkout's root, on ../shared photos)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import ROOT, SHARED


def library_snippet() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### As a library"):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python block under 'As a library'"
    return match.group(1)


def test_the_library_snippet_runs_as_pasted():
    if SHARED.resolve() != (ROOT.parent / "shared").resolve():  # pragma: no cover - the snippet says ../shared
        import pytest

        pytest.skip("the README snippet reads ../shared beside the checkout")
    env = {**os.environ, "FACEREC_WEIGHTS_DIR": str((SHARED / "weights").resolve()), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", library_snippet()], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "Abel"]
