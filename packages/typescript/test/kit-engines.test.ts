// `npm ci` prints no EBADENGINE warning on the Node.js this runs on (20, as the README names): every package of
// the lock files, nested ones included, declares an `engines.node` range the running Node satisfies. The check
// is npm's own (npm-install-checks' checkEngine, semver with prereleases), read from the lock instead of running
// `npm ci` (about 50 s). What it guards: @bufbuild/protoc-gen-es 2.14+ and @nats-io/nuid 3 ask for Node >= 22
// (see packages/typescript/README.md "Node.js versions").
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";

const root = join(import.meta.dirname, "..");
const repo = join(root, "..", "..");

interface Semver {
  satisfies(version: string, range: string, options: { includePrerelease: boolean }): boolean;
}

/** npm's own semver (the one `npm ci` checks engines with), from the npm next to this node. */
function npmSemver(): Semver {
  let npmDir = join(dirname(realpathSync(process.execPath)), "..", "lib", "node_modules", "npm");
  if (!existsSync(join(npmDir, "package.json"))) {
    npmDir = join(execFileSync("npm", ["root", "-g"], { encoding: "utf8" }).trim(), "npm");
  }
  return createRequire(join(npmDir, "package.json"))("semver") as Semver;
}

type Lock = { packages: Record<string, { engines?: { node?: string } | string[]; dev?: boolean }> };

function badEngines(lockFile: string, node: string): string[] {
  const semver = npmSemver();
  const lock = JSON.parse(readFileSync(lockFile, "utf8")) as Lock;
  const bad: string[] = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    const range = entry.engines === undefined || Array.isArray(entry.engines) ? undefined : entry.engines.node;
    if (range !== undefined && !semver.satisfies(node, range, { includePrerelease: true })) {
      bad.push(`${path || "(root)"} wants node ${range}`);
    }
  }
  return bad;
}

describe("node engines (no EBADENGINE from npm ci)", () => {
  for (const dir of ["packages/typescript", "examples/typescript"]) {
    it(`${dir}/package-lock.json: every package accepts node ${process.version}`, () => {
      assert.deepEqual(badEngines(join(repo, dir, "package-lock.json"), process.version), []);
    });
  }

  it("the package's runtime dependencies accept every Node.js 20 (package.json engines)", () => {
    const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { engines: { node: string } };
    assert.equal(manifest.engines.node, ">=20");
    const semver = npmSemver();
    const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as Lock;
    const bad = Object.entries(lock.packages)
      .filter(([path, entry]) => path !== "" && entry.dev !== true)
      .filter(([, entry]) => {
        const range = entry.engines === undefined || Array.isArray(entry.engines) ? undefined : entry.engines.node;
        return range !== undefined && !semver.satisfies("20.0.0", range, { includePrerelease: true });
      })
      .map(([path]) => path);
    assert.deepEqual(bad, []);
  });
});
