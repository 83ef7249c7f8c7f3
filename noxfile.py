"""Every CQC workflow is a nox session. `make help` lists the common ones; `nox -l` lists them all.

Every Python session runs in one shared environment (.nox/cqc-py311: tools, test and release requirements and
packages/python editable), installed once and again only when a requirements file changes (a stamp records
their digest), so a fresh clone pays for one install and a second run starts in seconds.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
BUILD = ROOT / ".build"
TOOLS_REQ = ROOT / "tools" / "requirements.txt"
TEST_REQ = ROOT / "tools" / "requirements-test.txt"
PY_PKG = ROOT / "packages" / "python"
GO_PKG = ROOT / "packages" / "go"
TS_PKG = ROOT / "packages" / "typescript"
GENERATED_PATHS = [
    "docs/openapi",
    "packages/python/src/cqc",
    "packages/go/gen",
    "packages/go/internal/validate",
    "packages/typescript/src/gen",
    "packages/typescript/src/validate",
    "schemas/jsonschema",
    "docs/asyncapi",
    "packages/go/cqctest/seed",
]

nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["test"]

PYTHON = "3.11"


RELEASE_REQ = ROOT / "tools" / "requirements-release.txt"
# One Python environment for every session: the pinned tools, test tools, release tools and packages/python
# (editable, with its `testing` extra). One install instead of one per session keeps `make test` on a fresh
# clone fast; sessions put its bin/ first on PATH, so `python`, `pytest`, `buf`, ... are the pinned ones.
PYENV = ROOT / ".nox" / "cqc-py311"
PYENV_INPUTS = (TOOLS_REQ, TEST_REQ, RELEASE_REQ, PY_PKG / "pyproject.toml")
os.environ["PATH"] = f"{PYENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ["VIRTUAL_ENV"] = str(PYENV)


def _python_env(session: nox.Session) -> None:
    """Creates the shared environment once and (re)installs it only when a requirements file or
    packages/python/pyproject.toml changed (a stamp records their digest). Safe when sessions run at once."""
    import fcntl

    digest = hashlib.sha256()
    for f in PYENV_INPUTS:
        digest.update(f.read_bytes())
    stamp = PYENV / ".cqc-installed"
    PYENV.parent.mkdir(parents=True, exist_ok=True)
    with open(PYENV.parent / ".cqc-py311.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == digest.hexdigest():
            return
        if not (PYENV / "bin" / "python").exists():
            session.run(f"python{PYTHON}", "-m", "venv", str(PYENV), external=True)
        requirements = [arg for req in (TOOLS_REQ, TEST_REQ, RELEASE_REQ) for arg in ("-r", str(req))]
        _pip_install(session, *requirements, "-e", f"{PY_PKG}[testing]")
        stamp.write_text(digest.hexdigest())


def _pip_install(session: nox.Session, *args: str) -> None:
    """Installs into the shared environment with uv (pinned in tools/requirements-nox.txt beside nox: it installs
    the same pinned wheels several times faster than pip), or with pip when uv is not there."""
    uv = Path(sys.executable).parent / "uv"
    if uv.exists():
        session.run(str(uv), "pip", "install", "--quiet", "--python", str(PYENV / "bin" / "python"), *args,
                    external=True)  # fmt: skip
    else:
        session.run(str(PYENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    *args, external=True)  # fmt: skip


def _install_once(session: nox.Session, *args: str, files: tuple[Path, ...] = ()) -> None:
    """Installs extra `args` into the shared environment unless it already holds exactly them (same args,
    same file contents); for a session's own additional requirements."""
    _python_env(session)
    key = hashlib.sha256(" ".join(args).encode()).hexdigest()[:16]
    digest = hashlib.sha256(" ".join(args).encode())
    for f in files:
        digest.update(f.read_bytes())
    stamp = PYENV / f".cqc-extra-{key}"
    import fcntl

    with open(PYENV.parent / ".cqc-py311.lock", "w") as lock:  # never beside another install
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == digest.hexdigest():
            return
        _pip_install(session, *args)
        stamp.write_text(digest.hexdigest())


def _tools(session: nox.Session) -> None:
    _python_env(session)


def _test_env(session: nox.Session) -> None:
    """The Python test environment (test-python, conformance, interop, ...): the shared environment."""
    _python_env(session)


def _npm_ci(session: nox.Session) -> None:
    """Installs packages/typescript's locked dependencies when node_modules is missing or stale (one session
    at a time: a lock file serialises concurrent sessions)."""
    import fcntl

    lock = TS_PKG / "package-lock.json"
    stamp = TS_PKG / "node_modules" / ".cqc-lock-sha256"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    (ROOT / ".nox").mkdir(exist_ok=True)
    with open(ROOT / ".nox" / ".cqc-npm.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == digest:
            return
        env = {"npm_config_update_notifier": "false"}
        with session.chdir(TS_PKG):
            session.run("npm", "ci", "--no-audit", "--no-fund", external=True, env=env)
        stamp.write_text(digest)


def _go_list(session: nox.Session) -> list[str]:
    """The import paths of the Go packages under the current directory (`go list ./...`)."""
    output = session.run("go", "list", "./...", external=True, env=_go_env(), silent=True)
    return str(output).split()


def _go_env() -> dict[str, str]:
    return {"GOFLAGS": "-mod=readonly", "GOTOOLCHAIN": "local"}


# Everything generation reads: when none of these files and none of the generated files changed since the
# last successful `nox -s generate`, the run is a no-op (a stamp in .build/ records both digests).
GENERATE_INPUTS = ("proto", "tools", "testdata/examples", "noxfile.py", "buf.yaml",
                   "packages/typescript/package-lock.json", "packages/go/go.mod", "packages/go/go.sum")  # fmt: skip
GENERATE_STAMP = BUILD / "generate.stamp"


def _tree_digest(paths: tuple[str, ...] | list[str]) -> str:
    """One sha256 over the name, size and modification time of every file under `paths` (caches and
    node_modules left out): any edit, checkout or regeneration of a file changes it."""
    digest = hashlib.sha256()
    for rel in paths:
        base = ROOT / rel
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            if {"__pycache__", "node_modules", ".mypy_cache"} & set(path.parts):
                continue
            st = path.stat()
            digest.update(f"{path.relative_to(ROOT).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _generate_digest(inputs: str | None = None) -> str:
    return (inputs or _tree_digest(GENERATE_INPUTS)) + ":" + _tree_digest(GENERATED_PATHS)


@nox.session(python=False)
def generate(session: nox.Session, force: bool = False) -> None:
    """Regenerates Python, Go and TypeScript code (and the OpenAPI, JSON Schema and AsyncAPI documents) from
    proto/. A no-op in well under a second when no input and no generated file changed since the last run."""
    if not force and not session.posargs and GENERATE_STAMP.exists():
        if GENERATE_STAMP.read_text() == _generate_digest():
            session.log("generated code is up to date (no input or output changed since the last generate)")
            return
    _tools(session)
    _npm_ci(session)
    # The inputs' digest is taken before generating: an input edited while this run reads them (by another
    # session or an editor) leaves a stamp that no longer matches, so the next run regenerates.
    inputs = _tree_digest(GENERATE_INPUTS)
    session.run("python", "tools/cqcgen.py", "generate", *session.posargs, env=_go_env())
    if not session.posargs:
        BUILD.mkdir(exist_ok=True)
        GENERATE_STAMP.write_text(_generate_digest(inputs))


def _snapshot() -> dict[str, str]:
    """sha256 of every file under the generated paths, keyed by repository-relative path."""
    digests: dict[str, str] = {}
    for generated in GENERATED_PATHS:
        for path in (ROOT / generated).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                digests[path.relative_to(ROOT).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


@nox.session(name="check-generated", python=False)
def check_generated(session: nox.Session) -> None:
    """Regenerates, then fails if the generated code (as it was in the working tree, and as committed)
    differs from what the protos produce."""
    before = _snapshot()
    generate(session, force=True)
    after = _snapshot()
    changed = sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
    if changed:
        session.error(
            "generated code differed from what proto/ produces (edited by hand, or stale); it has now been "
            "regenerated. Review and commit it. Files:\n  " + "\n  ".join(changed)
        )
    if os.environ.get("CI"):
        # In CI the tree is a clean clone: anything regenerated that git does not already hold is a failure.
        status = _git("status", "--porcelain", "--untracked-files=all", "--", *GENERATED_PATHS)
        if status:
            session.error("generated code is not committed; run `nox -s generate` and commit:\n" + status)
    session.log("generated code matches proto/")


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    """buf format (check only) and buf lint (STANDARD + COMMENTS) on every CQC proto."""
    _tools(session)
    session.run("buf", "format", "proto", "--diff", "--exit-code")
    image = BUILD / "image.binpb"
    session.run("python", "tools/cqcgen.py", "image", str(image))
    session.run("buf", "lint", str(image), "--config", "buf.yaml", "--path", "cqc")
    session.log("buf format and buf lint passed")


@nox.session(name="format", python=False)
def format_(session: nox.Session) -> None:
    """Rewrites the protos in buf's canonical format."""
    _tools(session)
    session.run("buf", "format", "proto", "--write")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def _git_ok(*args: str) -> bool:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True).returncode == 0


def _breaking_baselines() -> list[tuple[str, str]]:
    """The refs the protos must stay compatible with: main (or, on main itself, the previous commit) and the
    newest proto release tag. Override with CQC_BREAKING_AGAINST=<ref>."""
    if os.environ.get("CQC_BREAKING_AGAINST"):
        return [("CQC_BREAKING_AGAINST", os.environ["CQC_BREAKING_AGAINST"])]
    baselines: list[tuple[str, str]] = []
    head = _git("rev-parse", "HEAD") if _git_ok("rev-parse", "--verify", "HEAD") else ""
    for ref in ("origin/main", "main"):
        if _git_ok("rev-parse", "--verify", "--quiet", ref):
            if _git("rev-parse", ref) != head:
                baselines.append(("main", _git("merge-base", ref, "HEAD")))
            elif _git_ok("rev-parse", "--verify", "--quiet", "HEAD~1"):
                baselines.append(("previous commit on main", _git("rev-parse", "HEAD~1")))
            break
    # The newest package release tag (python/vX.Y.Z, typescript/vX.Y.Z, packages/go/vX.Y.Z): newest created
    # first, then highest version. Every package ships the same protos.
    tags = _git(
        "for-each-ref", "--sort=-v:refname", "--sort=-creatordate", "--format=%(refname:short)",
        "refs/tags/python/v*", "refs/tags/typescript/v*", "refs/tags/packages/go/v*",
    ).splitlines()  # fmt: skip
    tags = [t for t in tags if re.fullmatch(r"(python|typescript|packages/go)/v\d+\.\d+\.\d+", t)]
    if tags:
        baselines.append((f"last release {tags[0]}", tags[0]))
    return baselines


@nox.session(python=False)
def breaking(session: nox.Session) -> None:
    """buf breaking (WIRE_JSON) against main and the last package release tag; passes when there is no baseline.
    A breaking change passes only together with a major version bump of every package."""
    _tools(session)
    image = BUILD / "image.binpb"
    session.run("python", "tools/cqcgen.py", "image", str(image))
    baselines = _breaking_baselines()
    if not baselines:
        session.log("no baseline to compare with (first commit, no release tag): nothing can break yet")
        return
    for label, ref in baselines:
        against_dir = BUILD / "against" / "tree"
        if against_dir.exists():
            shutil.rmtree(against_dir)
        against_dir.mkdir(parents=True)
        listing = _git("ls-tree", "-r", "--name-only", ref, "--", "proto")
        if not listing:
            session.log(f"{label} ({ref[:12]}) has no protos: nothing to compare")
            continue
        archive = subprocess.run(["git", "archive", ref, "proto"], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(against_dir)], input=archive, check=True)
        against_image = BUILD / "against" / "image.binpb"
        session.run(
            "python", "tools/cqcgen.py", "image", str(against_image), "--proto-root", str(against_dir / "proto")
        )
        session.log(f"buf breaking against {label} ({ref[:12]})")
        try:
            session.run(
                "buf", "breaking", str(image), "--against", str(against_image), "--config", "buf.yaml", "--path", "cqc"
            )
        except nox.command.CommandFailed:
            # Allowed only when every package's major version is greater than at the baseline, or the baseline is
            # still in initial development (0.y.z) (docs/RELEASING.md).
            bumped = subprocess.run(
                [str(PYENV / "bin" / "python"), "tools/release.py", "major-bumped", ref],
                cwd=ROOT, capture_output=True, text=True,
            )  # fmt: skip
            if bumped.returncode != 0:
                session.error(
                    f"wire/JSON-breaking change against {label}. Put it in a new proto package version (v2), or "
                    "bump every package's major version (`nox -s release -- <lang> major`, see docs/RELEASING.md):\n"
                    + bumped.stdout + bumped.stderr
                )
            session.warn(f"breaking change against {label} accepted:\n{bumped.stdout}")


@nox.session(name="test-python", python=False)
def test_python(session: nox.Session) -> None:
    """pytest, mypy --strict and ruff for packages/python (installed editable with its pinned test tools)."""
    _test_env(session)
    with session.chdir(PY_PKG):
        session.run("ruff", "check", "src/cqc", "tests", "--exclude", "src/cqc/*/v1", "--exclude", "src/cqc/_gen")
        session.run("mypy", "--strict", "src/cqc", "tests")
        # The conformance corpus runs in the `conformance` session (tools/conformance.py, all three languages).
        session.run("pytest", "-q", *session.posargs)


@nox.session(name="test-go", python=False)
def test_go(session: nox.Session) -> None:
    """go vet and go test for packages/go, then for the Go examples (examples/go, their own module)."""
    with session.chdir(GO_PKG):
        # Every package but the generated ones (protoc-gen-go and vtprotobuf output: nothing to act on there).
        packages = [p for p in _go_list(session) if "/gen/" not in p]
        session.run("go", "vet", *packages, external=True, env=_go_env())
        # The conformance corpus runs in the `conformance` session (tools/conformance.py, all three languages).
        # -vet=off: `go vet` above ran every analyzer; go test's own vet subset would analyze every package again.
        session.run("go", "test", "-vet=off", "-count=1", "./...", *session.posargs, external=True, env=_go_env())
    # examples/go/portfolio-server's test runs the Portfolio suite (cqc.conformance, from the shared Python
    # environment on PATH) against the example; required here, so that it never skips silently.
    _python_env(session)
    with session.chdir(ROOT / "examples" / "go"):
        session.run("go", "vet", "./...", external=True, env=_go_env())
        suite_required = {**_go_env(), "CQC_EXAMPLE_SUITE": "required"}
        session.run("go", "test", "-vet=off", "-count=1", "./...", external=True, env=suite_required)


@nox.session(name="test-typescript", python=False)
def test_typescript(session: nox.Session) -> None:
    """tsc --strict type check, build, and node's test runner for packages/typescript."""
    with session.chdir(TS_PKG):
        _npm_ci(session)
        session.run("npm", "run", "--silent", "typecheck", external=True)
        session.run("npm", "run", "--silent", "build", external=True)
        # The conformance corpus runs in the `conformance` session (tools/conformance.py, all three languages).
        unit_tests = sorted(str(p.relative_to(TS_PKG)) for p in (TS_PKG / "test").glob("*.test.ts"))
        # test/kit-guide.test.ts runs the Portfolio suite (cqc.conformance, from the shared Python environment on
        # PATH) against the README's TypeScript example server; required here, so that it never skips silently.
        _python_env(session)
        env = {"CQC_EXAMPLE_SUITE": "required"}
        session.run("node", "--import", "tsx", "--test", *unit_tests, external=True, env=env)


# `test` runs its sessions in two lanes at once (the machine has two cores and most sessions use one). A lane
# runs its sessions in order; sessions that share files stay in one lane: test-typescript and release-check both
# rebuild packages/typescript/dist, lint and breaking both write .build/image.binpb. Generation rewrites only
# changed files, atomically, and the shared environment and node_modules are installed under locks, so the other
# lane never sees a half-written tree. Every other session goes to lane A.
TEST_LANE_B = ("test-go", "test-typescript", "interop", "events", "release-check")
# Arguments `nox -s test` gives a session (release-check: TypeScript built once, see release_check).
TEST_SESSION_ARGS = {"release-check": ["quick"]}


def _run_lanes(session: nox.Session, sessions: tuple[str, ...]) -> None:
    """Runs `sessions` in two lanes at once (lane A, lane B; each session its own `nox` process, one after the
    other in its lane), prints each lane's output when it ends (while they run: `tail -f .build/lanes/A.log`)
    and the seconds each session took, and fails when any session failed. CQC_TEST_SERIAL=1 runs them one
    after the other in this process instead."""
    if os.environ.get("CQC_TEST_SERIAL"):
        for name in sessions:
            session.notify(name)
        return
    import threading
    import time

    lanes = {
        "A": [name for name in sessions if name not in TEST_LANE_B],
        "B": [name for name in sessions if name in TEST_LANE_B],
    }
    started = time.monotonic()
    (BUILD / "lanes").mkdir(parents=True, exist_ok=True)
    results: dict[str, list[tuple[str, int, float]]] = {lane: [] for lane in lanes}

    def run_lane(lane: str) -> None:
        with open(BUILD / "lanes" / f"{lane}.log", "w") as log:
            for name in lanes[lane]:
                begun = time.monotonic()
                command = [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", name]
                if TEST_SESSION_ARGS.get(name):
                    command += ["--", *TEST_SESSION_ARGS[name]]
                code = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
                log.flush()
                results[lane].append((name, code, time.monotonic() - begun))

    threads = []
    for lane, names in lanes.items():
        session.log(f"lane {lane}: {' '.join(names)}")
        thread = threading.Thread(target=run_lane, args=(lane,))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    failed = []
    for lane, names in lanes.items():
        code = max((c for _, c, _ in results[lane]), default=0)
        print(f"\n======== lane {lane} ({' '.join(names)}): exit {code} ========", flush=True)
        sys.stdout.write((BUILD / "lanes" / f"{lane}.log").read_text())
        sys.stdout.flush()
        failed += [name for name, c, _ in results[lane] if c != 0]
    for lane in lanes:
        total = sum(seconds for _, _, seconds in results[lane])
        timings = ", ".join(f"{name} {seconds:.0f} s{'' if c == 0 else ' FAILED'}" for name, c, seconds in results[lane])
        session.log(f"lane {lane} ({total:.0f} s): {timings}")
    session.log(f"both lanes finished in {time.monotonic() - started:.0f} s")
    if failed:
        session.error(f"session(s) failed: {', '.join(failed)} (see their output above)")


@nox.session(python=False)
def test(session: nox.Session) -> None:
    """Everything CI runs: contract checks, then every package's tests (two lanes at once; see _run_lanes)."""
    sessions = (
        "lint",
        "breaking",
        "check-generated",
        "test-python",
        "test-go",
        "test-typescript",
        "conformance",
        "interop",
        "events",
        "release-check",
        "fuzz",
        "config-schemas",
        "rest",
    )
    _run_lanes(session, sessions)


@nox.session(python=False)
def check(session: nox.Session) -> None:
    """Checks some protos in isolation (compile, buf lint, their examples and cases): `nox -s check -- FILE...`."""
    _tools(session)
    session.run("python", "tools/cqccheck.py", *session.posargs)


# --- Releases: thin wrappers around tools/release.py (see docs/RELEASING.md) ---------------------------------

RELEASE_LANGS = ("python", "typescript", "go")


def _release_py(session: nox.Session, *args: str) -> None:
    session.run("python", "tools/release.py", *args, env=_go_env())


def _release_tools(session: nox.Session) -> None:
    _python_env(session)


@nox.session(name="build-python", python=False)
def build_python(session: nox.Session) -> None:
    """sdist + wheel into .build/release/python/dist: reproducible, the sdist builds the same wheel, twine check."""
    _release_tools(session)
    _release_py(session, "build-python")


@nox.session(name="build-typescript", python=False)
def build_typescript(session: nox.Session, once: bool = False) -> None:
    """npm pack into .build/release/typescript: only dist/ JS + .d.ts, reproducible (built twice and compared;
    `once`, from release-check's quick mode: packed as built)."""
    _npm_ci(session)
    _release_py(session, "build-typescript", *(["--once"] if once else []))


@nox.session(name="verify-go", python=False)
def verify_go(session: nox.Session) -> None:
    """packages/go: `go mod tidy` leaves no diff, go vet, go build; exports the module files for the consumer."""
    _release_py(session, "verify-go")


@nox.session(name="release-check", python=False)
def release_check(session: nox.Session) -> None:
    """Builds every artifact, installs each into a fresh environment and runs the consumer smoke tests; checks
    versions, changelogs and workflows. `nox -s release-check -- go` checks one language; with `quick` (what
    `nox -s test` passes) the TypeScript package is packed as test-typescript built it, without the second build
    that proves the build reproducible (the release workflows run `nox -s build-typescript`, which does)."""
    quick = "quick" in session.posargs
    langs = [arg for arg in session.posargs if arg != "quick"] or list(RELEASE_LANGS)
    _release_tools(session)
    _release_py(session, "versions")
    session.run("python", "-m", "unittest", "discover", "-s", "tools/tests", "-t", ".", "-q")
    _release_py(session, "lint-workflows")
    for lang in langs:
        if lang == "python":
            _release_py(session, "build-python")
        elif lang == "typescript":
            build_typescript(session, once=quick)
        elif lang == "go":
            _release_py(session, "verify-go")
        else:
            session.error(f"unknown language {lang!r}: one of {', '.join(RELEASE_LANGS)}")
        _release_py(session, "consumer", lang)


@nox.session(python=False)
def release(session: nox.Session) -> None:
    """Cuts a release: bumps the version, moves the CHANGELOG notes, prints the tag: `nox -s release -- go minor`."""
    if len(session.posargs) != 2:
        session.error("usage: nox -s release -- <python|typescript|go> <major|minor|patch|X.Y.Z>")
    session.run(sys.executable, "tools/release.py", "bump", *session.posargs)


@nox.session(name="verify-tag", python=False)
def verify_tag(session: nox.Session) -> None:
    """Fails unless the tag (`nox -s verify-tag -- python/v1.2.3`) matches the checked-out version and CHANGELOG."""
    session.run(sys.executable, "tools/release.py", "verify-tag", *session.posargs)


@nox.session(python=False)
def publish(session: nox.Session) -> None:
    """Publishes what release-check built and tested (release workflows): `nox -s publish -- python [--dry-run]`."""
    _release_tools(session)
    _release_py(session, "publish", *session.posargs)


@nox.session(python=False)
def conformance(session: nox.Session) -> None:
    """Cross-language conformance (tools/conformance.py with the fuzzer's executors): every case of testdata/ in
    Python, Go and TypeScript, then each language decodes the other two's encodings; prints a table and fails
    on any disagreement, or when a message of the contract lacks a valid or a rejecting case
    (testdata/conformance/README.md, Coverage).
    `nox -s conformance -- golden` first rewrites testdata/conformance/golden/ from the examples."""
    _test_env(session)
    _npm_ci(session)
    # One runner (cases, expected verdicts, golden JSON, expected failures, cross-decoding, report) and the
    # fuzzer's thin executors; every run writes to its own .build/conformance/<run>/.
    run = os.urandom(8).hex()
    env = {"CQC_CONFORMANCE_RUN": run, **_go_env()}
    import time

    for old in (BUILD / "conformance").glob("*"):  # results of runs older than an hour
        if old.stat().st_mtime < time.time() - 3600:
            shutil.rmtree(old, ignore_errors=True)
    if "golden" in session.posargs:
        with session.chdir(PY_PKG):
            session.run("python", "tests/conformance_golden.py", env=env)
    session.run("python", "tools/conformance.py", env=env)


@nox.session(python=False)
def interop(session: nox.Session) -> None:
    """Cross-language gRPC: the Python and Go reference servers on 127.0.0.1, the service conformance suite
    (cqc.conformance) through the Python, Go and TypeScript executors (each against a server of another
    language, and Go against Go on the fast codec), every language's examples and `buf curl`; prints a matrix
    and fails on any failure (testdata/interop/README.md).
    `nox -s interop -- --servers go --executors typescript --case 'gateway/*'` runs a part."""
    _test_env(session)
    _npm_ci(session)
    if session.posargs:
        session.run("python", "tools/interop.py", *session.posargs, env=_go_env())
        return
    # make test runs four cells, not all six: every executor against a server of another language, plus the Go
    # executor (gRPC's default codec) against the Go server on the fast codec (packages/go/cqccodec,
    # CQC_CODEC=fast, which every Go-server cell uses here; the Go tests compare it with the default codec).
    # `nox -s interop -- --servers python,go` runs every executor against both servers.
    cells = "typescript:go,python:go,go:python,go:go"
    session.run("python", "tools/interop.py", "--cells", cells, env={**_go_env(), "CQC_CODEC": "fast"})


@nox.session(python=False)
def bench(session: nox.Session) -> None:
    """Benchmarks (not tests; not part of `test`): binary and canonical JSON encode/decode and protovalidate
    validation of five examples in Python, Go and TypeScript; prints ns/op, ops/s and encoded sizes, and one
    table of all three (docs/BENCHMARKS.md). Results also go to .build/bench/."""
    _python_env(session)
    _npm_ci(session)
    out = BUILD / "bench"
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("python.json", "validate-python.json", "go.txt", "typescript.json"):
        (out / stale).unlink(missing_ok=True)
    session.run("python", "tools/bench/bench_python.py", "--json", str(out / "python.json"))
    # Validation (issue 11): validate/decode per message size, generated validators vs protovalidate.
    session.run("python", "tools/bench/bench_validate.py", "--json", str(out / "validate-python.json"))
    with session.chdir(GO_PKG):
        # Three runs of 100 ms per benchmark; report.py keeps the best, as the other two languages do.
        bench_go = ["go", "test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", "100ms", "-count", "3", "."]
        output = session.run(*bench_go, external=True, env=_go_env(), silent=True)
    (out / "go.txt").write_text(str(output))
    with session.chdir(GO_PKG):
        # Validation (issue 11): generated validators vs protovalidate-go vs decode, by message size.
        bench_validate = ["go", "test", "-run", "^$", "-bench", "Validate", "-benchtime", "100ms", "./internal/vrt/"]
        validate_output = session.run(*bench_validate, external=True, env=_go_env(), silent=True)
    (out / "validate-go.txt").write_text(str(validate_output))
    print(validate_output, flush=True)
    with session.chdir(GO_PKG):
        # The fast codec (issue 11): protobuf-go vs cqccodec by message, and an order-book stream over TCP vs
        # a bytes-only stream of the same frames; its last lines are the two tables of ratios.
        bench_fast = ["go", "test", "-run", "^$", "-bench", ".", "-benchtime", "200ms", "-count", "3", "./cqccodec/"]
        fast_output = session.run(*bench_fast, external=True, env=_go_env(), silent=True)
    (out / "gofast-go.txt").write_text(str(fast_output))
    print(fast_output, flush=True)
    print(output, flush=True)
    with session.chdir(TS_PKG):
        session.run("node", "--import", "tsx", "test/bench.ts", "--json", str(out / "typescript.json"), external=True)
        # Validation (issue 11): generated validators vs @bufbuild/protovalidate vs decode, by message size.
        session.run("node", "--import", "tsx", "test/bench-validate.ts", external=True)
        # Decode (issue 11): fromBinary, CQC's fastFromBinary and decodeBinary vs protobufjs static code.
        # protobufjs and its generator live in tools/bench/protobufjs (their own lock), installed for this only.
        pbjs = ["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(ROOT / "tools" / "bench" / "protobufjs")]
        session.run(*pbjs, external=True)
        session.run("node", "--import", "tsx", "test/bench-decode.ts", "--json", str(out / "decode-typescript.json"), external=True)
    session.run("python", "tools/bench/report.py", str(out))
    # Events on a real nats-server: events/s published and consumed per language vs bytes of the same size.
    session.run("python", "tools/events.py", "--bench", "2000", "--json", str(out / "events.json"), env=_go_env())


@nox.session(python=False)
def docs(session: nox.Session) -> None:
    """API reference from the protos (docs/reference/: Markdown per package, catalog.json for agents; links the
    JSON Schema, OpenAPI and AsyncAPI files). `make test` checks it is fresh (packages/python/tests/test_docs.py)."""
    _test_env(session)
    session.run("python", "tools/cqcdocs.py", "build", env=_go_env())


@nox.session(python=False)
def events(session: nox.Session) -> None:
    """CQC events on a real NATS JetStream server (pinned, built from tools/nats into .build/): each of Python,
    Go and TypeScript publishes and consumes; a consumer killed and restarted, publisher retries, a server
    restart, dead letters; prints the matrix and the counts and fails on any loss, duplicate or order
    violation (tools/events.py)."""
    _test_env(session)
    _npm_ci(session)
    session.run("python", "tools/events.py", *session.posargs, env=_go_env())


@nox.session(python=False)
def fuzz(session: nox.Session) -> None:
    """Differential fuzzing (tools/fuzz.py): seeded mutations of the examples through one Python, Go and
    TypeScript executor each; fails on any disagreement not explained by an expected failure.
    `nox -s fuzz -- --count 100000 --seed 7` runs longer (default: 2000 inputs, seed 1)."""
    _test_env(session)
    _npm_ci(session)
    session.run("python", "tools/fuzz.py", *session.posargs, env=_go_env(), external=True)


@nox.session(name="config-schemas", python=False)
def config_schemas(session: nox.Session) -> None:
    """Every example service configuration (examples/config/*.yaml) against its generated JSON Schema with a
    standard Go validator (santhosh-tekuri/jsonschema, pinned in the tools-only module tools/jsonschema). The
    Python (jsonschema) and TypeScript (ajv) checks run in test-python and test-typescript."""
    with session.chdir(ROOT / "tools" / "jsonschema"):
        session.run("go", "test", "-count=1", ".", external=True, env=_go_env())


@nox.session(python=False)
def rest(session: nox.Session) -> None:
    """REST and OpenAPI against a live server (tools/rest.py): docs/openapi/*.openapi.yaml validate
    (openapi-spec-validator), the google.api.http mappings pass their check, schemathesis runs every
    operation against the Go reference server's REST endpoint (vanguard transcoding; checks
    not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance),
    and the plain-HTTP REST examples of Python, Go and TypeScript run against it."""
    rest_req = ROOT / "tools" / "requirements-rest.txt"
    _install_once(session, "-r", str(rest_req), files=(rest_req,))
    _npm_ci(session)
    server = BUILD / "cqc-reference-server"
    with session.chdir(GO_PKG):
        session.run("go", "build", "-o", str(server), "./cmd/cqc-reference-server", external=True, env=_go_env())
    session.run("python", "tools/rest.py", str(server), *session.posargs, env=_go_env())


@nox.session(name="validate-diff", python=False)
def validate_diff(session: nox.Session) -> None:
    """The generated validators against protovalidate in all three languages, on the whole conformance corpus
    and on seeded mutations (issue 11's differential bar: `nox -s validate-diff -- --mutations 20000 --seed 1`,
    the default). Python judges every message (packages/python/tests/validate_diff.py) and writes the mutated
    messages it decoded; Go (internal/vrt) and TypeScript (test/validate-diff.ts) then judge the same
    bytes. Not part of `make test` (minutes of CPU); make test runs the corpus and a 500-mutation slice."""
    _test_env(session)
    _npm_ci(session)
    args = session.posargs or ["--mutations", "20000", "--seed", "1"]
    inputs = BUILD / "validate-diff" / "mutations.jsonl"
    inputs.parent.mkdir(parents=True, exist_ok=True)
    with session.chdir(PY_PKG):
        session.run("python", "tests/validate_diff.py", *args, "--go-inputs", str(inputs))
    env = {"CQC_VALIDATE_INPUTS": str(inputs), **_go_env()}
    with session.chdir(GO_PKG):
        session.run("go", "test", "-count=1", "-run", "TestGeneratedAgreesWithProtovalidate", "./internal/vrt/",
                    external=True, env=env)  # fmt: skip
    with session.chdir(TS_PKG):
        session.run("node", "--import", "tsx", "--test", "test/validate-diff.ts", external=True, env=env)
