"""README "Implement a service" (Python): the guide's commands run as written in an empty directory — a
fresh virtual environment, this checkout's package installed with the `server` and `conformance` extras (the
one substitution: the local path for "cqc-contracts"), the guide's server.py, then the Portfolio suite's cases
of its four RPCs against it. The server.py of the guide is examples/python/portfolio_server/server.py."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import REPO_ROOT

README = REPO_ROOT / "README.md"
EXAMPLE = REPO_ROOT / "examples" / "python" / "portfolio_server" / "server.py"
PY_PKG = REPO_ROOT / "packages" / "python"
BEGIN, END = "<!-- implement:python:begin -->", "<!-- implement:python:end -->"
RPCS = ["CreatePortfolio", "GetPortfolio", "ListPortfolios", "UpdatePortfolio"]


def guide_blocks() -> list[tuple[str, str]]:
    """(language, code) of every fenced block of the README's Python guide, in order."""
    text = README.read_text()
    assert BEGIN in text and END in text, f"README.md has no {BEGIN} ... {END} section"
    part = text.split(BEGIN, 1)[1].split(END, 1)[0]
    return re.findall(r"^```(\w+)\n(.*?)^```$", part, flags=re.DOTALL | re.MULTILINE)


def test_guide_server_is_the_example() -> None:
    blocks = guide_blocks()
    assert [lang for lang, _ in blocks] == ["bash", "python", "bash"]
    assert blocks[1][1] == EXAMPLE.read_text(), "README guide's server.py differs from " + str(EXAMPLE)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _uv() -> str | None:
    found = shutil.which("uv")
    local = REPO_ROOT / ".venv" / "bin" / "uv"  # pinned beside nox (tools/requirements-nox.txt)
    return found or (str(local) if local.exists() else None)


def test_guide_runs_literally() -> None:
    from cqc.conformance import load_suites, select

    assert select(load_suites(), services=["Portfolio"], rpcs=RPCS), "no Portfolio case for the guide's RPCs"
    uv = _uv()
    if uv is None:
        pytest.skip("uv is not installed (the guide installs with uv)")
    setup, server, run = (code for _, code in guide_blocks())
    spec = '"cqc-contracts[server,conformance]"'
    assert spec in setup
    setup = setup.replace(spec, f'"{PY_PKG}[server,conformance]"')
    run = run.replace("50061", str(_free_port()))
    work = Path(tempfile.mkdtemp(prefix="cqc-guide-"))
    script = "set -euo pipefail\n" + setup + "\ncat > server.py <<'CQC_GUIDE_EOF'\n" + server + "CQC_GUIDE_EOF\n" + run
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV" and not k.startswith("UV_")}
    env["PATH"] = f"{Path(uv).parent}{os.pathsep}{env.get('PATH', '')}"
    log = work / "guide.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            ["bash", "-c", script], cwd=work, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            proc.wait(timeout=300)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the guide's server too, whatever happened
            except ProcessLookupError:
                pass
    out = log.read_text()
    shutil.rmtree(work, ignore_errors=True)
    assert proc.returncode == 0, out
    summary = out.strip().splitlines()[-1]
    found = re.fullmatch(r"Portfolio: (\d+) cases, (\d+) passed", summary)
    assert found and found.group(1) == found.group(2) and int(found.group(1)) > 0, out
