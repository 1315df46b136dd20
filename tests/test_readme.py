"""Tests of README.md: the Python API example runs as a script, and CI runs the README's test command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def section(title: str) -> str:
    """The text of the README section ``## <title>``, up to the next section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert match, f"README.md has no section '## {title}'"
    return match.group(1)


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


@pytest.mark.slow
def test_the_python_api_example_runs_as_a_script(tmp_path):
    # Saved as a file and run with this interpreter, the example must finish: its ensemble spawns worker
    # processes, which import the script, so it needs an `if __name__ == "__main__":` guard.
    (code,) = code_blocks(section("Python API"), "python")
    script = tmp_path / "readme_example.py"
    script.write_text(code, encoding="utf-8")
    # This checkout's package, in the script and in its spawned workers.
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = os.environ | {"PYTHONPATH": os.pathsep.join(paths)}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]


def test_ci_runs_exactly_the_readmes_test_command():
    # The command is the bash block right after the sentence that names `.ci/run`.
    text = section("On a fresh machine")
    command = code_blocks(text[text.index("`.ci/run`") :], "bash")[0].strip()
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert command in ci_lines, f".ci/run does not run the README's test command: {command}"
