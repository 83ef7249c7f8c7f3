// The package's public surface: one subpath export per generated proto package, all resolvable.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  exports: Record<string, { types: string; import: string } | string>;
};

function generatedPackages(): string[] {
  const base = join(root, "src", "gen", "cqc");
  return readdirSync(base)
    .flatMap((domain) => readdirSync(join(base, domain)).map((version) => `${domain}/${version}`))
    .sort();
}

describe("package.json exports", () => {
  it("has a subpath export for every generated proto package", () => {
    for (const pkg of generatedPackages()) {
      const entry = manifest.exports[`./${pkg}`];
      assert.deepEqual(
        entry,
        { types: `./dist/gen/cqc/${pkg}/index.d.ts`, import: `./dist/gen/cqc/${pkg}/index.js` },
        `missing or wrong export for ./${pkg}`,
      );
    }
  });

  it("exports nothing that does not exist in src", () => {
    for (const [subpath, entry] of Object.entries(manifest.exports)) {
      if (typeof entry === "string") continue;
      const source = entry.import.replace("./dist/", "src/").replace(/\.js$/, ".ts");
      assert.doesNotThrow(() => readFileSync(join(root, source)), `${subpath} points at missing ${source}`);
    }
  });
});
