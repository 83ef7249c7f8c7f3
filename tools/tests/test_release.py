"""Unit tests for tools/release.py: versions, bumps, changelogs, tags (run by `nox -s release-check`)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

from tools import release

ROOT = Path(__file__).resolve().parent.parent.parent
VERSION_FILES = sorted({path for sources in release.VERSION_SOURCES.values() for path, _ in sources})
CHANGELOGS = [f"{p.directory}/CHANGELOG.md" for p in release.PACKAGES.values()]
CHANGELOG = """# Changelog

Notes go under `## [Unreleased]` as changes land.

## [Unreleased]

### Added
- Everything.
"""


class FakeRepo(unittest.TestCase):
    """A throwaway git repository holding copies of the real version files and changelogs."""

    def setUp(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="cqc-release-test-"))
        self.addCleanup(shutil.rmtree, self.root)
        for path in VERSION_FILES:
            (self.root / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / path, self.root / path)
        for path in CHANGELOGS:  # the real ones change with every release; these have notes to release
            (self.root / path).write_text(CHANGELOG)
        for lang in release.PACKAGES:  # start every package at 0.1.0, whatever the real tree says
            release.set_version(lang, "0.1.0", self.root)
        self.git("init", "-q", "-b", "main")
        self.git("add", "-A")
        self.git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.root, check=True, capture_output=True, text=True).stdout

    def commit_and_tag(self, tag: str) -> None:
        self.git("add", "-A")
        self.git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", tag)
        self.git("tag", tag)


class VersionTests(FakeRepo):
    def test_real_tree_is_consistent(self) -> None:
        versions = release.check_versions(ROOT)
        self.assertEqual(set(versions), {"python", "typescript", "go"})

    def test_bump_minor_updates_every_source_and_the_changelog(self) -> None:
        old, new, changed = release.bump("typescript", "minor", self.root, date="2026-01-02")
        self.assertEqual((old, new), ("0.1.0", "0.2.0"))
        self.assertEqual(release.package_version("typescript", self.root), "0.2.0")
        lock = json.loads((self.root / "packages/typescript/package-lock.json").read_text())
        self.assertEqual((lock["version"], lock["packages"][""]["version"]), ("0.2.0", "0.2.0"))
        self.assertIn("packages/typescript/CHANGELOG.md", changed)
        text = (self.root / "packages/typescript/CHANGELOG.md").read_text()
        self.assertRegex(text, r"## \[Unreleased\]\n\n## \[0\.2\.0\] - 2026-01-02\n\n### Added\n")
        self.assertEqual(release.unreleased_notes(text), "")
        self.assertIn(f"[0.2.0]: {release.REPO_URL}/releases/tag/typescript/v0.2.0", text)
        # only the version lines changed in the JSON files
        diff = self.git("diff", "--numstat", "--", "packages/typescript/package.json")
        self.assertTrue(diff.startswith("1\t1\t"), diff)

    def test_second_release_links_to_the_previous_tag_and_needs_notes(self) -> None:
        release.bump("python", "0.1.0", self.root, date="2026-01-01")  # first release of the current version
        self.commit_and_tag("python/v0.1.0")
        with self.assertRaisesRegex(release.ReleaseError, "Unreleased section .* is empty"):
            release.bump("python", "patch", self.root)
        changelog = self.root / "packages/python/CHANGELOG.md"
        changelog.write_text(changelog.read_text().replace("## [Unreleased]\n", "## [Unreleased]\n\n### Fixed\n- x\n"))
        _, new, _ = release.bump("python", "major", self.root, date="2026-02-01")
        self.assertEqual(new, "1.0.0")
        init = (self.root / "packages/python/src/cqc/__init__.py").read_text()
        self.assertIn('__version__ = "1.0.0"', init)
        text = changelog.read_text()
        self.assertIn(f"[1.0.0]: {release.REPO_URL}/compare/python/v0.1.0...python/v1.0.0", text)
        self.assertIn(f"[Unreleased]: {release.REPO_URL}/compare/python/v1.0.0...HEAD", text)
        self.assertLess(text.index("## [1.0.0]"), text.index("## [0.1.0]"))

    def test_refuses_versions_that_are_not_newer(self) -> None:
        release.bump("go", "0.1.0", self.root, date="2026-01-01")
        self.commit_and_tag("packages/go/v0.1.0")
        for part in ("0.1.0", "0.0.9"):
            with self.assertRaises(release.ReleaseError):
                release.bump("go", part, self.root)
        with self.assertRaises(release.ReleaseError):
            release.bump("go", "1.0", self.root)

    def test_disagreeing_sources_fail(self) -> None:
        init = self.root / "packages/python/src/cqc/__init__.py"
        init.write_text(init.read_text().replace('"0.1.0"', '"0.1.1"'))
        with self.assertRaisesRegex(release.ReleaseError, "disagree"):
            release.package_version("python", self.root)

    def test_verify_tag(self) -> None:
        with self.assertRaisesRegex(release.ReleaseError, "no `## \\[0.1.0\\] - DATE` section"):
            release.verify_tag("python/v0.1.0", self.root)
        release.bump("python", "0.1.0", self.root, date="2026-01-01")
        self.assertEqual(release.verify_tag("refs/tags/python/v0.1.0", self.root), ("python", "0.1.0"))
        with self.assertRaisesRegex(release.ReleaseError, "is at 0.1.0"):
            release.verify_tag("python/v0.1.1", self.root)
        with self.assertRaises(release.ReleaseError):
            release.verify_tag("v0.1.0", self.root)
        self.assertEqual(release.parse_tag("packages/go/v1.2.3"), ("go", "1.2.3"))

    def test_initial_development_allows_breaking_changes(self) -> None:
        # 0.y.z at the baseline: the contract is still in initial development, anything may change.
        self.commit_and_tag("python/v0.1.0")
        allowed, lines = release.major_bumped_since("python/v0.1.0", self.root)
        self.assertTrue(allowed, lines)
        self.assertIn("initial development", lines[0])

    def test_major_bump_of_every_package_allows_breaking_changes(self) -> None:
        for lang in release.PACKAGES:
            release.set_version(lang, "1.0.0", self.root)
        self.commit_and_tag("python/v1.0.0")
        allowed, _ = release.major_bumped_since("python/v1.0.0", self.root)
        self.assertFalse(allowed)
        for lang in release.PACKAGES:
            release.set_version(lang, "2.0.0", self.root)
            allowed, lines = release.major_bumped_since("python/v1.0.0", self.root)
            self.assertEqual(allowed, lang == "go", lines)  # go is bumped last: only then all three are


class ArtifactRuleTests(unittest.TestCase):
    def test_tarball_file_rules(self) -> None:
        pkg = ROOT / "packages/typescript"
        with self.assertRaisesRegex(release.ReleaseError, "unexpected src/validation.ts"):
            release.check_tarball_files(["package.json", "README.md", "src/validation.ts"], pkg)
        with self.assertRaisesRegex(release.ReleaseError, "missing dist/validation.d.ts"):
            release.check_tarball_files(["package.json", "README.md", "dist/validation.js"], pkg)

    def test_workflows_pin_actions_by_full_version(self) -> None:
        for workflow in (ROOT / ".github/workflows").glob("*.yml"):
            for uses in re.findall(r"uses: (\S+)", workflow.read_text()):
                self.assertRegex(uses, r"@v\d+\.\d+\.\d+$", f"{workflow.name}: {uses}")


if __name__ == "__main__":
    unittest.main()
