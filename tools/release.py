#!/usr/bin/env python3
"""CQC release tooling: versions, changelogs, tags, artifact builds and checks, consumer smoke tests, publishing.

Each language package is versioned and released on its own (see docs/RELEASING.md):

  python      packages/python      PyPI cqc-contracts      tag python/vX.Y.Z
  typescript  packages/typescript  npm @crypto-quant/cqc   tag typescript/vX.Y.Z
  go          packages/go          Go module               tag packages/go/vX.Y.Z

The nox sessions at the end of noxfile.py are thin wrappers around the subcommands below; run
`python tools/release.py -h` for the list. Standard library only (Python 3.11), so any interpreter runs it;
the build and publish subcommands expect `build`, `twine` and `shellcheck` (tools/requirements-release.txt)
in the running interpreter's environment, as the nox sessions provide; actionlint runs as a pinned Go tool.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".build" / "release"
CONSUMERS = ROOT / "tools" / "consumers"
REPO_URL = "https://github.com/crypto-quant/cqc"
GO_MODULE = "github.com/crypto-quant/cqc/packages/go"
SEMVER = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
PARTS = ("major", "minor", "patch")


class ReleaseError(Exception):
    """A check failed; the message says what and how to fix it."""


@dataclass(frozen=True)
class Package:
    lang: str
    directory: str  # repository-relative
    tag_prefix: str  # the tag is tag_prefix + "v" + version
    title: str

    def tag(self, version: str) -> str:
        return f"{self.tag_prefix}v{version}"


PACKAGES = {
    "python": Package("python", "packages/python", "python/", "cqc-contracts (PyPI)"),
    "typescript": Package("typescript", "packages/typescript", "typescript/", "@crypto-quant/cqc (npm)"),
    "go": Package("go", "packages/go", "packages/go/", f"{GO_MODULE} (Go module)"),
}


def parse_version(text: str) -> tuple[int, int, int]:
    match = SEMVER.fullmatch(text)
    if not match:
        raise ReleaseError(f"not a MAJOR.MINOR.PATCH version: {text!r} (pre-releases are not used)")
    return int(match[1]), int(match[2]), int(match[3])


def bumped(version: str, part: str) -> str:
    major, minor, patch = parse_version(version)
    if part == "major":
        return f"{major + 1}.0.0"
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    if part == "patch":
        return f"{major}.{minor}.{patch + 1}"
    parse_version(part)
    return part


# --- version sources --------------------------------------------------------------------------------------

# Each source: (repository-relative path, regex whose group "v" is the version). Every source of a package
# must agree; `bump` rewrites them all in place, touching nothing else in the file.
VERSION_SOURCES: dict[str, list[tuple[str, re.Pattern[str]]]] = {
    "python": [
        ("packages/python/pyproject.toml", re.compile(r'(?ms)^\[project\]$.*?^version = "(?P<v>[^"]+)"')),
        ("packages/python/src/cqc/__init__.py", re.compile(r'(?m)^__version__ = "(?P<v>[^"]+)"')),
    ],
    "typescript": [
        ("packages/typescript/package.json", re.compile(r'(?s)\A\{\n.*?^  "version": "(?P<v>[^"]+)"', re.M)),
        ("packages/typescript/package-lock.json", re.compile(r'(?s)\A\{\n.*?^  "version": "(?P<v>[^"]+)"', re.M)),
        (
            "packages/typescript/package-lock.json",
            re.compile(r'(?s)^  "packages": \{\n    "": \{\n.*?^      "version": "(?P<v>[^"]+)"', re.M),
        ),
    ],
    "go": [
        ("packages/go/version.go", re.compile(r'(?m)^const Version = "(?P<v>[^"]+)"')),
    ],
}


def _read(root: Path, path: str, ref: str | None) -> str | None:
    if ref is None:
        file = root / path
        return file.read_text() if file.exists() else None
    shown = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=root, capture_output=True, text=True)
    return shown.stdout if shown.returncode == 0 else None


def package_version(lang: str, root: Path = ROOT, ref: str | None = None) -> str | None:
    """The package's version in the working tree (or at git `ref`); raises if its sources disagree.
    None when the package has no version source at `ref` (it predates versioning)."""
    found: dict[str, str] = {}
    for path, pattern in VERSION_SOURCES[lang]:
        text = _read(root, path, ref)
        if text is None:
            if ref is not None:
                return None
            raise ReleaseError(f"{path} is missing")
        match = pattern.search(text)
        if not match:
            raise ReleaseError(f"{path}: no version found (expected to match {pattern.pattern!r})")
        found[f"{path}:{match.start('v')}"] = match["v"]
    versions = set(found.values())
    if len(versions) != 1:
        raise ReleaseError(f"{lang} version sources disagree: {found}; run `nox -s release -- {lang} X.Y.Z`")
    version = versions.pop()
    parse_version(version)
    return version


def set_version(lang: str, version: str, root: Path = ROOT) -> list[str]:
    changed: list[str] = []
    for path, pattern in VERSION_SOURCES[lang]:
        file = root / path
        text = file.read_text()
        match = pattern.search(text)
        assert match, path
        text = text[: match.start("v")] + version + text[match.end("v") :]
        file.write_text(text)
        if path not in changed:
            changed.append(path)
    for path in changed:  # the JSON files must still parse
        if path.endswith(".json"):
            json.loads((root / path).read_text())
    return changed


# --- tags -------------------------------------------------------------------------------------------------


def git(*args: str, root: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


def released_versions(lang: str, root: Path = ROOT) -> list[str]:
    """Versions with a release tag for `lang`, oldest first."""
    prefix = PACKAGES[lang].tag_prefix + "v"
    tags = git("tag", "--list", f"{prefix}*", root=root).splitlines()
    versions = [t[len(prefix) :] for t in tags if SEMVER.fullmatch(t[len(prefix) :])]
    return sorted(versions, key=parse_version)


def parse_tag(tag: str) -> tuple[str, str]:
    tag = tag.removeprefix("refs/tags/")
    for lang, package in PACKAGES.items():
        if tag.startswith(package.tag_prefix + "v"):
            version = tag[len(package.tag_prefix) + 1 :]
            parse_version(version)
            return lang, version
    raise ReleaseError(f"{tag!r} is not a release tag (python/vX.Y.Z, typescript/vX.Y.Z, packages/go/vX.Y.Z)")


# --- changelogs -------------------------------------------------------------------------------------------

UNRELEASED = "## [Unreleased]"


def changelog_path(lang: str, root: Path = ROOT) -> Path:
    return root / PACKAGES[lang].directory / "CHANGELOG.md"


def _unreleased_span(text: str, where: str) -> tuple[int, int]:
    """Start (after the heading line) and end of the Unreleased section's body."""
    start = text.find(UNRELEASED + "\n")
    if start < 0:
        raise ReleaseError(f"{where}: no `{UNRELEASED}` section (Keep a Changelog format)")
    body = start + len(UNRELEASED) + 1
    following = re.compile(r"(?m)^## \[|^\[[^\]]+\]: ").search(text, body)
    return body, following.start() if following else len(text)


def unreleased_notes(text: str, where: str = "CHANGELOG.md") -> str:
    body, end = _unreleased_span(text, where)
    return text[body:end].strip()


def release_changelog(text: str, lang: str, version: str, date: str, previous_tag: str | None) -> str:
    """Moves the Unreleased notes under `## [version] - date`, leaves an empty Unreleased section, and keeps
    the link references at the bottom current."""
    package = PACKAGES[lang]
    if re.search(rf"(?m)^## \[{re.escape(version)}\]", text):
        raise ReleaseError(f"CHANGELOG already has a section for {version}")
    if not unreleased_notes(text):
        raise ReleaseError(
            f"the Unreleased section of {package.directory}/CHANGELOG.md is empty: write what changed first"
        )
    body, _ = _unreleased_span(text, "CHANGELOG.md")
    text = f"{text[:body]}\n## [{version}] - {date}\n\n{text[body:].lstrip(chr(10))}"
    tag = package.tag(version)
    unreleased_link = f"[Unreleased]: {REPO_URL}/compare/{tag}...HEAD"
    version_link = (
        f"[{version}]: {REPO_URL}/compare/{previous_tag}...{tag}"
        if previous_tag
        else f"[{version}]: {REPO_URL}/releases/tag/{tag}"
    )
    if re.search(r"(?m)^\[Unreleased\]: .*$", text):
        text = re.sub(r"(?m)^\[Unreleased\]: .*$", lambda _: f"{unreleased_link}\n{version_link}", text, count=1)
    else:
        text = text.rstrip("\n") + f"\n\n{unreleased_link}\n{version_link}\n"
    return text


# --- bump (the `release` session) -------------------------------------------------------------------------


def bump(lang: str, part: str, root: Path = ROOT, date: str | None = None) -> tuple[str, str, list[str]]:
    """Sets the new version everywhere and moves the changelog's Unreleased notes under it. Returns
    (old, new, changed files)."""
    if lang not in PACKAGES:
        raise ReleaseError(f"unknown package {lang!r}: one of {', '.join(PACKAGES)}")
    if part not in PARTS and not SEMVER.fullmatch(part):
        raise ReleaseError(f"{part!r}: give major, minor, patch or an explicit X.Y.Z")
    old = package_version(lang, root)
    assert old is not None
    new = bumped(old, part)
    released = released_versions(lang, root)
    if new in released:
        raise ReleaseError(f"{PACKAGES[lang].tag(new)} already exists")
    if released and parse_version(new) <= parse_version(released[-1]):
        raise ReleaseError(f"{new} is not newer than the last release {released[-1]}")
    if parse_version(new) < parse_version(old) or (new == old and old in released):
        raise ReleaseError(f"{new} is not newer than the current version {old}")
    changelog = changelog_path(lang, root)
    if not changelog.exists():
        raise ReleaseError(f"{changelog.relative_to(root)} is missing")
    previous_tag = PACKAGES[lang].tag(released[-1]) if released else None
    text = release_changelog(
        changelog.read_text(), lang, new, date or dt.datetime.now(dt.UTC).date().isoformat(), previous_tag
    )
    changed = set_version(lang, new, root)
    changelog.write_text(text)
    return old, new, [*changed, changelog.relative_to(root).as_posix()]


def cmd_bump(args: argparse.Namespace) -> None:
    old, new, changed = bump(args.lang, args.part)
    package = PACKAGES[args.lang]
    tag = package.tag(new)
    print(f"{package.title}: {old} -> {new}")
    print("updated: " + ", ".join(changed))
    print(
        f"""
next steps:
  1. review the diff, commit it ("Release {args.lang} {new}") and merge it to main (it runs CI like any change)
  2. tag the merged commit on main and push the tag; the release-{args.lang} workflow checks, builds and
     publishes exactly that commit:

     git tag -a {tag} -m "{package.title} {new}" <commit-on-main>
     git push origin {tag}
"""
    )
    print(f"TAG={tag}")


# --- consistency checks -----------------------------------------------------------------------------------


def check_versions(root: Path = ROOT) -> dict[str, str]:
    versions: dict[str, str] = {}
    for lang in PACKAGES:
        version = package_version(lang, root)
        assert version is not None
        versions[lang] = version
        changelog = changelog_path(lang, root)
        if not changelog.exists():
            raise ReleaseError(f"{changelog.relative_to(root)} is missing")
        text = changelog.read_text()
        _unreleased_span(text, str(changelog.relative_to(root)))
        released = released_versions(lang, root)
        if released and parse_version(version) < parse_version(released[-1]):
            raise ReleaseError(f"{lang} version {version} is older than its last release {released[-1]}")
        if version in released and not re.search(rf"(?m)^## \[{re.escape(version)}\]", text):
            raise ReleaseError(f"{lang} {version} is released but has no section in {changelog.relative_to(root)}")
    return versions


def verify_tag(tag: str, root: Path = ROOT) -> tuple[str, str]:
    """The tag names a package and a version that the checked-out sources carry, with changelog notes."""
    lang, version = parse_tag(tag)
    current = package_version(lang, root)
    if current != version:
        raise ReleaseError(
            f"tag {tag} says {lang} {version}, but {PACKAGES[lang].directory} is at {current}: tag the commit "
            f"that `nox -s release -- {lang} ...` produced"
        )
    if not re.search(
        rf"(?m)^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog_path(lang, root).read_text()
    ):
        raise ReleaseError(f"{PACKAGES[lang].directory}/CHANGELOG.md has no `## [{version}] - DATE` section")
    return lang, version


def major_bumped_since(ref: str, root: Path = ROOT) -> tuple[bool, list[str]]:
    """Whether a breaking proto change against `ref` may land: every package's major version is greater now
    than at `ref`, or the package was still in initial development there (0.y.z: semantic versioning's
    "anything may change" phase, which ends with 1.0.0). Returns (allowed, one line per package)."""
    lines: list[str] = []
    allowed = True
    for lang in PACKAGES:
        now = package_version(lang, root)
        then = package_version(lang, root, ref)
        assert now is not None
        initial = then is not None and parse_version(then)[0] == 0
        ok = then is None or initial or parse_version(now)[0] > parse_version(then)[0]
        allowed = allowed and ok
        why = "  (initial development: 0.y.z)" if initial else ("" if ok else "  (major not bumped)")
        lines.append(f"  {lang}: {then or '(unversioned)'} -> {now}" + why)
    return allowed, lines


# --- helpers for builds -----------------------------------------------------------------------------------


def run(*cmd: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None, capture: bool = False) -> str:
    print(f"+ {' '.join(str(c) for c in cmd)}", flush=True)
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=full_env, text=True, capture_output=capture)
    if result.returncode != 0:
        if capture:
            sys.stderr.write(result.stdout + result.stderr)
        raise ReleaseError(f"command failed ({result.returncode}): {' '.join(str(c) for c in cmd)}")
    return result.stdout if capture else ""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_sums(directory: Path, files: list[Path]) -> None:
    lines = [f"{sha256(f)}  {f.relative_to(directory).as_posix()}\n" for f in sorted(files)]
    (directory / "SHA256SUMS").write_text("".join(lines))


def verify_sums(directory: Path) -> list[Path]:
    sums = directory / "SHA256SUMS"
    if not sums.exists():
        raise ReleaseError(f"{sums} is missing: publish only what release-check built and tested")
    files = []
    for line in sums.read_text().splitlines():
        digest, name = line.split("  ", 1)
        file = directory / name
        if not file.exists() or sha256(file) != digest:
            raise ReleaseError(f"{file} is missing or differs from what was tested (SHA256SUMS)")
        files.append(file)
    return files


def source_date_epoch() -> str:
    """The checked-out commit's time: the same sources always build the same bytes."""
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return os.environ["SOURCE_DATE_EPOCH"]
    try:
        return git("log", "-1", "--format=%ct")
    except subprocess.CalledProcessError:
        return "315532800"  # 1980-01-01, the earliest time a zip file can hold


def fresh(directory: Path) -> Path:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    return directory


def worktree_files(directory: str) -> list[str]:
    """Files under `directory` that git tracks or would track (untracked but not ignored), that exist."""
    listed = git("ls-files", "--cached", "--others", "--exclude-standard", "--", directory).splitlines()
    return sorted({p for p in listed if (ROOT / p).is_file()})


# --- Python -----------------------------------------------------------------------------------------------


def build_python() -> Path:
    """sdist + wheel (built from the sdist), a second wheel built straight from the tree (must be identical:
    the sdist builds the same wheel, and builds are reproducible), twine check --strict, content checks."""
    out = fresh(OUT / "python")
    dist, tree = out / "dist", out / "from-tree"
    env = {"SOURCE_DATE_EPOCH": source_date_epoch(), "PIP_CONSTRAINT": str(ROOT / "tools" / "constraints-build.txt")}
    pkg = ROOT / PACKAGES["python"].directory
    run(sys.executable, "-m", "build", "--outdir", dist, pkg, env=env)  # sdist, then the wheel from the sdist
    run(sys.executable, "-m", "build", "--wheel", "--outdir", tree, pkg, env=env)
    version = package_version("python")
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        raise ReleaseError(f"expected one wheel and one sdist in {dist}, found {wheels + sdists}")
    wheel, sdist = wheels[0], sdists[0]
    if wheel.name != f"cqc_contracts-{version}-py3-none-any.whl" or sdist.name != f"cqc_contracts-{version}.tar.gz":
        raise ReleaseError(f"unexpected artifact names {wheel.name}, {sdist.name} for version {version}")
    twin = tree / wheel.name
    if sha256(twin) != sha256(wheel):
        raise ReleaseError(
            f"the wheel built from the sdist differs from the wheel built from the tree:\n"
            f"  only in sdist-built: {sorted(set(_zip_names(wheel)) - set(_zip_names(twin)))}\n"
            f"  only in tree-built: {sorted(set(_zip_names(twin)) - set(_zip_names(wheel)))}"
        )
    check_wheel(wheel, version)
    check_sdist(sdist, version)
    run(sys.executable, "-m", "twine", "check", "--strict", wheel, sdist)
    write_sums(dist, [wheel, sdist])
    print(f"python artifacts OK (reproducible, sdist == tree build): {wheel.name} {sdist.name} in {dist}")
    return wheel


def _zip_names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def check_wheel(wheel: Path, version: str | None) -> None:
    names = set(_zip_names(wheel))
    problems: list[str] = []
    src = PACKAGES["python"].directory + "/src/"
    expected = {p.removeprefix(src) for p in worktree_files(src + "cqc") if p.endswith((".py", ".pyi", "py.typed"))}
    problems += [f"missing {name}" for name in sorted(expected - names)]
    for name in sorted(names):
        if name.startswith(f"cqc_contracts-{version}.dist-info/"):
            continue
        if not name.startswith("cqc/") or "__pycache__" in name or name.endswith((".pyc", ".pyo")):
            problems.append(f"unexpected {name}")
        elif name.endswith("_pb2.py") and name + "i" not in names:
            problems.append(f"{name} has no .pyi type stub")
    if "cqc/py.typed" not in names:
        problems.append("missing cqc/py.typed (PEP 561 marker)")
    if "cqc/testing/seed/examples.json" not in names:
        problems.append("missing cqc/testing/seed/examples.json (the reference servers' seed data)")
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"cqc_contracts-{version}.dist-info/METADATA").decode()
    if f"\nVersion: {version}\n" not in metadata or "\nName: cqc-contracts\n" not in metadata:
        problems.append("METADATA does not name cqc-contracts " + str(version))
    init = f'__version__ = "{version}"'
    with zipfile.ZipFile(wheel) as archive:
        if init not in archive.read("cqc/__init__.py").decode():
            problems.append(f"cqc/__init__.py lacks {init}")
    if problems:
        raise ReleaseError(f"{wheel.name}:\n  " + "\n  ".join(problems))


def check_sdist(sdist: Path, version: str | None) -> None:
    base = f"cqc_contracts-{version}/"
    with tarfile.open(sdist) as archive:
        names = set(archive.getnames())
    required = [base + p for p in ("pyproject.toml", "PKG-INFO", "README.md", "CHANGELOG.md", "src/cqc/py.typed")]
    missing = [p for p in required if p not in names]
    stray = [n for n in names if "__pycache__" in n or n.endswith(".pyc") or not n.startswith(base)]
    if missing or stray:
        raise ReleaseError(f"{sdist.name}: missing {missing}, unexpected {stray}")


def consumer_python(wheel: Path | None = None) -> None:
    """A fresh venv holding only the wheel (and its dependencies), mypy --strict on a consumer, then run it."""
    wheel = wheel or next((OUT / "python" / "dist").glob("*.whl"))
    version = package_version("python")
    assert version is not None
    work = fresh(OUT / "python" / "consumer")
    shutil.copy(CONSUMERS / "python" / "consumer.py", work / "consumer.py")
    run(sys.executable, "-m", "venv", work / "venv")
    py = work / "venv" / "bin" / "python"
    # The consumer's tools and the runtime dependencies at the versions CQC tests with (constraints only pin;
    # the wheel's own dependency ranges decide what is needed).
    # uv (pinned beside nox in tools/requirements-nox.txt) installs the same resolution several times faster than
    # pip; pip is the fallback when the bootstrap environment is not there.
    uv = ROOT / ".venv" / "bin" / "uv"
    installer = [uv, "pip", "install", "--quiet", "--python", py] if uv.exists() else [
        py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run(
        *installer, wheel, "mypy", "types-protobuf",
        "-c", ROOT / "tools" / "requirements.txt", "-c", ROOT / "tools" / "requirements-test.txt",
    )  # fmt: skip
    clean_env = {"PYTHONPATH": "", "MYPYPATH": "", "PYTHONNOUSERSITE": "1"}
    run(py, "-m", "mypy", "--strict", "--no-incremental", "consumer.py", cwd=work, env=clean_env)
    run(py, "-I", "consumer.py", version, cwd=work, env=clean_env)


# --- TypeScript -------------------------------------------------------------------------------------------

NPM_ENV = {"npm_config_update_notifier": "false", "npm_config_fund": "false", "npm_config_audit": "false"}
NPM_ALLOWED = re.compile(r"package\.json|README\.md|LICENSE(\.md|\.txt)?|dist/.+\.(js|d\.ts)")


def _npm_pack(pkg: Path, destination: Path) -> tuple[Path, list[str]]:
    output = run("npm", "pack", "--json", "--pack-destination", destination, cwd=pkg, env=NPM_ENV, capture=True)
    packed = json.loads(output)[0]
    return destination / packed["filename"], sorted(f["path"] for f in packed["files"])


def typescript_dist_is_fresh(pkg: Path) -> bool:
    """dist/ exists and is newer than every input of the build (src/, the tsconfigs, package.json and the
    lock file), i.e. `npm run build` would write it again from the same sources. Also used by tools/interop.py,
    so that one build of dist/ serves test-typescript, interop and release-check."""
    dist = pkg / "dist"
    outputs = [p.stat().st_mtime_ns for p in dist.rglob("*") if p.is_file()] if dist.is_dir() else []
    if not outputs:
        return False
    inputs = [p for p in (pkg / "src").rglob("*") if p.is_file()]
    inputs += [pkg / name for name in ("tsconfig.json", "tsconfig.build.json", "package.json", "package-lock.json")]
    return max(p.stat().st_mtime_ns for p in inputs if p.exists()) < min(outputs)


def build_typescript(twice: bool = True) -> Path:
    """npm run build, npm pack; the tarball holds only dist/ JS + .d.ts (+ package.json, README, LICENSE),
    everything the exports point at, and is byte-identical when built again."""
    pkg = ROOT / PACKAGES["typescript"].directory
    out = fresh(OUT / "typescript")
    if typescript_dist_is_fresh(pkg):  # `nox -s test` builds dist/ in test-typescript just before (same lane)
        print("typescript: dist/ is newer than every build input: packed as built, then built again to compare")
    else:
        run("npm", "run", "--silent", "build", cwd=pkg, env=NPM_ENV)
    tarball, files = _npm_pack(pkg, out)
    check_tarball_files(files, pkg)
    if twice:
        again = fresh(OUT / "typescript-again")
        run("npm", "run", "--silent", "build", cwd=pkg, env=NPM_ENV)
        second, _ = _npm_pack(pkg, again)
        if sha256(second) != sha256(tarball):
            raise ReleaseError("npm pack is not reproducible: two builds of the same sources differ")
        shutil.rmtree(again)
    version = package_version("typescript")
    if tarball.name != f"crypto-quant-cqc-{version}.tgz":
        raise ReleaseError(f"unexpected tarball name {tarball.name} for version {version}")
    write_sums(out, [tarball])
    print(f"typescript artifact OK ({len(files)} files{', reproducible' if twice else ''}): {tarball}")
    return tarball


def check_tarball_files(files: list[str], pkg: Path) -> None:
    manifest = json.loads((pkg / "package.json").read_text())
    problems = [
        f"unexpected {f} (consumers need only dist/ JS and .d.ts)" for f in files if not NPM_ALLOWED.fullmatch(f)
    ]
    problems += [f"missing {f}" for f in ("package.json", "README.md") if f not in files]
    repository = manifest.get("repository", {})
    if not str(repository.get("url", "")).endswith("github.com/crypto-quant/cqc.git"):
        problems.append("package.json needs repository.url (npm publish --provenance checks it against the repo)")
    for subpath, entry in manifest.get("exports", {}).items():
        targets = [entry] if isinstance(entry, str) else list(entry.values())
        problems += [f"export {subpath} points at {t}, not in the tarball" for t in targets if t[2:] not in files]
    for source in sorted((pkg / "src").rglob("*.ts")):
        stem = "dist/" + source.relative_to(pkg / "src").as_posix().removesuffix(".ts")
        problems += [f"missing {stem}{ext} (from {source.name})" for ext in (".js", ".d.ts") if stem + ext not in files]
    if problems:
        raise ReleaseError("npm tarball:\n  " + "\n  ".join(problems))


def consumer_typescript(tarball: Path | None = None) -> None:
    """A fresh npm project installing only the tarball; tsc --strict, then run the compiled consumer."""
    tarball = tarball or next((OUT / "typescript").glob("*.tgz"))
    version = package_version("typescript")
    assert version is not None
    work = fresh(OUT / "typescript" / "consumer")
    for name in ("package.json", "tsconfig.json", "main.ts"):
        shutil.copy(CONSUMERS / "typescript" / name, work / name)
    run("npm", "install", "--prefer-offline", "--no-audit", "--no-fund", tarball, cwd=work, env=NPM_ENV)
    installed = work / "node_modules" / "@crypto-quant" / "cqc"
    if installed.is_symlink() or not (installed / "package.json").exists():
        raise ReleaseError(f"{installed} is not an installed copy of the tarball")
    run(work / "node_modules" / ".bin" / "tsc", "-p", "tsconfig.json", cwd=work)
    run("node", "build/main.js", version, cwd=work)


# --- Go ---------------------------------------------------------------------------------------------------


def go_env(**extra: str) -> dict[str, str]:
    return {"GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly", **extra}


def verify_go() -> Path:
    """go mod tidy leaves no diff, go vet, go build; then exports the module's files (what a tag publishes:
    git-tracked or addable files under packages/go) to .build/release/go/module for the consumer."""
    pkg = ROOT / PACKAGES["go"].directory
    run("go", "mod", "tidy", "-diff", cwd=pkg, env=go_env(GOFLAGS=""))
    run("go", "vet", "./...", cwd=pkg, env=go_env())
    run("go", "build", "./...", cwd=pkg, env=go_env())
    module = fresh(OUT / "go" / "module")
    files = worktree_files(PACKAGES["go"].directory)
    nested = [f for f in files if f.endswith("/go.mod") and f != PACKAGES["go"].directory + "/go.mod"]
    if nested:
        raise ReleaseError(f"nested modules are left out of the module zip: {nested}")
    for path in files:
        target = module / Path(path).relative_to(PACKAGES["go"].directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, target)
    write_sums(module, [module / Path(p).relative_to(PACKAGES["go"].directory) for p in files])
    print(f"go module OK: tidy, vet, build; {len(files)} files exported to {module}")
    return module


def go_module_hash(module: Path, prefix: str) -> str:
    """The go.sum `h1:` hash (golang.org/x/mod/sumdb/dirhash Hash1) of the module files in `module`."""
    lines = []
    for file in sorted(module.rglob("*")):
        if file.is_file() and file.name != "SHA256SUMS":
            lines.append(f"{sha256(file)}  {prefix}/{file.relative_to(module).as_posix()}\n")
    lines.sort(key=lambda line: line.split("  ", 1)[1])
    return "h1:" + base64.b64encode(hashlib.sha256("".join(lines).encode()).digest()).decode()


def consumer_go(module: Path | None = None) -> None:
    """A fresh module requiring the CQC module, replaced by the exported module files; tidy, vet, run.

    With the default export (verify-go's copy of packages/go's tracked files), the consumer builds from
    packages/go itself, whose compiled packages the Go build cache already holds (a copy elsewhere would
    compile the whole generated tree again: Go's cache keys include the source directory), and then checks
    that every file the build read from the CQC module (`go list -deps`: Go, embedded and module files) is in
    the export, byte for byte: what a tag publishes is what was built."""
    export = OUT / "go" / "module"
    module = module or export
    if not (module / "go.mod").exists():
        raise ReleaseError(f"{module} has no go.mod: run `nox -s verify-go` first")
    version = package_version("go")
    assert version is not None
    go_directive = re.search(r"(?m)^go (\S+)$", (module / "go.mod").read_text())
    source = ROOT / PACKAGES["go"].directory if module.resolve() == export.resolve() else module
    work = fresh(OUT / "go" / "consumer")
    shutil.copy(CONSUMERS / "go" / "main.go", work / "main.go")
    (work / "go.mod").write_text(
        f"module example.com/cqc-consumer\n\ngo {go_directive[1] if go_directive else '1.24'}\n\n"
        f"require {GO_MODULE} v{version}\n\nreplace {GO_MODULE} => {source.resolve()}\n"
    )
    run("go", "mod", "tidy", cwd=work, env=go_env(GOFLAGS="-mod=mod"))
    run("go", "vet", "./...", cwd=work, env=go_env())
    run("go", "run", ".", version, cwd=work, env=go_env())
    if source != module:
        listing = subprocess.run(
            ["go", "list", "-deps", "-json=Module,Dir,GoFiles,EmbedFiles", "./..."],
            cwd=work, env={**os.environ, **go_env()}, check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        used = {"go.mod", "go.sum"}
        for package in _json_stream(listing):
            if (package.get("Module") or {}).get("Path") != GO_MODULE:
                continue
            rel = Path(package["Dir"]).resolve().relative_to(source.resolve())
            used.update((rel / name).as_posix() for name in package.get("GoFiles", []) + package.get("EmbedFiles", []))
        missing = sorted(f for f in used if not (module / f).is_file() or sha256(module / f) != sha256(source / f))
        if missing:
            raise ReleaseError(f"the exported module lacks or differs in files the consumer build used: {missing[:10]}")
        print(f"go consumer: the {len(used)} module files the build used are in the export, byte for byte")


def _json_stream(text: str) -> list[dict[str, Any]]:
    """The JSON values `go list -json` prints one after another."""
    decoder, values, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        value, i = decoder.raw_decode(text, i)
        values.append(value)
    return values


# --- workflows --------------------------------------------------------------------------------------------


def lint_workflows() -> None:
    """actionlint on .github/workflows/ (with shellcheck on every run: script when it is installed)."""
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
    if not workflows:
        raise ReleaseError("no workflow files in .github/workflows")
    shellcheck = shutil.which("shellcheck")
    args = ["-shellcheck", shellcheck] if shellcheck else ["-shellcheck", ""]
    actionlint = ROOT / "tools" / "actionlint"  # pinned as a Go tool in its own module
    run("go", "tool", "actionlint", *args, *workflows, cwd=actionlint, env=go_env())
    expected = {"ci.yml", "release-python.yml", "release-typescript.yml", "release-go.yml"}
    missing = expected - {w.name for w in workflows}
    if missing:
        raise ReleaseError(f"missing workflows: {sorted(missing)}")
    for lang, package in PACKAGES.items():
        text = (ROOT / ".github" / "workflows" / f"release-{lang}.yml").read_text()
        if f'"{package.tag_prefix}v*"' not in text:
            raise ReleaseError(f"release-{lang}.yml is not triggered by tags {package.tag_prefix}v*")
    print(f"workflows OK (actionlint{' + shellcheck' if shellcheck else ''}): {', '.join(w.name for w in workflows)}")


# --- publishing -------------------------------------------------------------------------------------------


def publish(lang: str, tag: str | None, dry_run: bool) -> None:
    """Publishes what release-check built and tested (checksums verified), after checking the tag."""
    tag = tag or os.environ.get("GITHUB_REF_NAME", "")
    if not tag:
        raise ReleaseError("no tag: pass --tag or run in a tag-triggered workflow (GITHUB_REF_NAME)")
    tagged_lang, version = verify_tag(tag)
    if tagged_lang != lang:
        raise ReleaseError(f"tag {tag} releases {tagged_lang}, not {lang}")
    prefix = ["echo", "[dry run] would run:"] if dry_run else []
    if lang == "python":
        files = verify_sums(OUT / "python" / "dist")
        if sorted(f.name for f in files) != sorted(
            [f"cqc_contracts-{version}-py3-none-any.whl", f"cqc_contracts-{version}.tar.gz"]
        ):
            raise ReleaseError(f"built artifacts {[f.name for f in files]} are not version {version}")
        run(sys.executable, "-m", "twine", "check", "--strict", *files)
        run(*prefix, sys.executable, "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar", *files)
    elif lang == "typescript":
        (tarball,) = verify_sums(OUT / "typescript")
        if tarball.name != f"crypto-quant-cqc-{version}.tgz":
            raise ReleaseError(f"built tarball {tarball.name} is not version {version}")
        run(*prefix, "npm", "publish", tarball, "--provenance", "--access", "public", env=NPM_ENV)
    else:
        verify_sums(OUT / "go" / "module")
        # Go publishes from the tag itself; asking the proxy for the version makes it fetch and cache it now.
        query = f"{GO_MODULE}@v{version}"
        work = fresh(OUT / "go" / "proxy")
        env = go_env(GOFLAGS="-mod=mod", GOPROXY="https://proxy.golang.org", GONOSUMDB="", GOPRIVATE="")
        tested = go_module_hash(OUT / "go" / "module", f"{GO_MODULE}@v{version}")
        for attempt in range(1, 6):
            try:
                output = run(*prefix, "go", "mod", "download", "-json", query, cwd=work, env=env, capture=True)
                break
            except ReleaseError:
                if attempt == 5:
                    raise
                time.sleep(20 * attempt)
        served = "(dry run)" if dry_run else json.loads(output).get("Sum", "")
        if not dry_run and served != tested:
            raise ReleaseError(f"the proxy serves {query} as {served}, but the tested module files hash to {tested}")
        print(f"{query}: {served} (tested module files: {tested})")
    print(f"{'[dry run] ' if dry_run else ''}published {PACKAGES[lang].title} {version} ({tag})")


# --- command line -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/release.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("bump", help="bump a package's version, move its changelog notes, print the tag")
    p.add_argument("lang", choices=PACKAGES)
    p.add_argument("part", help="major, minor, patch, or an explicit X.Y.Z")
    sub.add_parser("versions", help="check the version sources and changelogs; print each package's version")
    p = sub.add_parser("tag", help="print the release tag of a package's current version")
    p.add_argument("lang", choices=PACKAGES)
    p = sub.add_parser("verify-tag", help="fail unless TAG matches the checked-out package version and changelog")
    p.add_argument("tag")
    p = sub.add_parser("major-bumped", help="exit 0 if every package's major version is greater than at REF")
    p.add_argument("ref")
    sub.add_parser("build-python", help="sdist + wheel, reproducibility, content checks, twine check --strict")
    build_ts = sub.add_parser("build-typescript", help="npm run build + npm pack, file-list and reproducibility checks")
    build_ts.add_argument("--once", action="store_true", help="pack dist/ as built, without the second build")
    sub.add_parser("verify-go", help="go mod tidy -diff, go vet, go build; export the module files")
    p = sub.add_parser("consumer", help="consumer smoke test of a built artifact in a fresh environment")
    p.add_argument("lang", choices=PACKAGES)
    sub.add_parser("lint-workflows", help="actionlint (+ shellcheck) on .github/workflows")
    p = sub.add_parser("publish", help="publish the artifact release-check built (checksums verified)")
    p.add_argument("lang", choices=PACKAGES)
    p.add_argument("--tag", help="the release tag (default: $GITHUB_REF_NAME)")
    p.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.command == "bump":
            cmd_bump(args)
        elif args.command == "versions":
            for lang, version in check_versions().items():
                print(f"{lang:<11} {version:<9} tag {PACKAGES[lang].tag(version)}")
        elif args.command == "tag":
            print(PACKAGES[args.lang].tag(package_version(args.lang) or ""))
        elif args.command == "verify-tag":
            lang, version = verify_tag(args.tag)
            print(f"tag {args.tag} matches {PACKAGES[lang].directory} {version}")
        elif args.command == "major-bumped":
            allowed, lines = major_bumped_since(args.ref)
            print("\n".join(lines))
            return 0 if allowed else 1
        elif args.command == "build-python":
            build_python()
        elif args.command == "build-typescript":
            build_typescript(twice=not args.once)
        elif args.command == "verify-go":
            verify_go()
        elif args.command == "consumer":
            {"python": consumer_python, "typescript": consumer_typescript, "go": consumer_go}[args.lang]()
        elif args.command == "lint-workflows":
            lint_workflows()
        elif args.command == "publish":
            publish(args.lang, args.tag, args.dry_run)
    except ReleaseError as error:
        print(f"release: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
