// The README's "TypeScript: a Portfolio service on @crypto-quant/cqc/kit", run as written: its server.ts (which
// must be examples/typescript/portfolio-server/server.ts, byte for byte) is saved in a scratch directory and
// its last bash block runs there (the server, then the Portfolio suite's cqc-conformance command), on a free
// port instead of 50063. The one stand-in: the setup block's `npm install` of the published package (which
// would take a minute and the registry) is replaced by pointing the package imports at the sources. `nox -s
// test-typescript` puts the shared Python environment (cqc-conformance) on PATH and sets
// CQC_EXAMPLE_SUITE=required, so that a missing runner fails there instead of skipping.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, describe, it } from "node:test";

const root = join(import.meta.dirname, "..");
const repo = join(root, "..", "..");
const begin = "<!-- implement:typescript:begin -->";
const end = "<!-- implement:typescript:end -->";

function guide(): string {
  const text = readFileSync(join(repo, "README.md"), "utf8");
  assert.ok(text.includes(begin) && text.includes(end), `README.md has no ${begin} ... ${end} section`);
  return text.split(begin, 2)[1]!.split(end, 2)[0]!;
}

/** The fenced blocks of `lang` in `section`, in order. */
function blocks(section: string, lang: string): string[] {
  return [...section.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]!);
}

/** A port free right now (the guide's fixed port may be taken by a server of another test). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Whether `cqc-conformance` (the Python package's suite runner) is on PATH: nox puts the shared environment there. */
function hasRunner(): boolean {
  try {
    execFileSync("bash", ["-c", "command -v cqc-conformance"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("README: implement a service (TypeScript)", () => {
  const scratch = join(root, "test", `.guide-${process.pid}`);
  after(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  it("its server.ts is examples/typescript/portfolio-server/server.ts", () => {
    const [code] = blocks(guide(), "ts");
    const example = readFileSync(join(repo, "examples", "typescript", "portfolio-server", "server.ts"), "utf8");
    assert.equal(code, example);
  });

  it("runs as written: the server, then its cqc-conformance command, all cases passing", async (t) => {
    if (!hasRunner()) {
      if (process.env.CQC_EXAMPLE_SUITE === "required") {
        assert.fail("cqc-conformance is not on PATH (nox -s test-typescript provides it)");
      }
      t.skip("cqc-conformance is not on PATH (run under nox -s test-typescript)");
      return;
    }
    const section = guide();
    const ts = blocks(section, "ts");
    const bash = blocks(section, "bash");
    assert.equal(ts.length, 1);
    assert.equal(bash.length, 2, "the guide's bash blocks: setup, then run");
    // The setup block installs the published package from the registry; here the sources stand in for it.
    assert.match(bash[0]!, /npm install @crypto-quant\/cqc @bufbuild\/protobuf @connectrpc\/connect @connectrpc\/connect-node@/);
    const code = ts[0]!
      .replaceAll('"@crypto-quant/cqc/kit"', '"../../src/kit/index.js"')
      .replaceAll('"@crypto-quant/cqc/portfolio/v1"', '"../../src/gen/cqc/portfolio/v1/index.js"')
      .replaceAll('"@crypto-quant/cqc/services/v1"', '"../../src/gen/cqc/services/v1/index.js"');
    assert.doesNotMatch(code, /from "@crypto-quant\/cqc/, "an import the test does not point at the sources");
    const run = bash[1]!;
    assert.match(run, /^node --import tsx server\.ts --addr 127\.0\.0\.1:50063 .*&$/m);
    assert.match(run, /^cqc-conformance --target 127\.0\.0\.1:50063 --service Portfolio/m);
    mkdirSync(scratch, { recursive: true });
    writeFileSync(join(scratch, "server.ts"), code);
    // The run block as written, on a free port; the trap stops the server if a command fails.
    const script = `set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\ntrap 'exit 143' TERM\n${run.replaceAll("50063", String(await freePort()))}`;
    let out = "";
    try {
      out = execFileSync("bash", ["-c", script], { cwd: scratch, encoding: "utf8", timeout: 180_000 });
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      assert.fail(`the guide's run block failed:\n${e.stdout ?? ""}${e.stderr ?? ""}`);
    }
    const summary = /Portfolio: (\d+) cases, (\d+) passed/.exec(out);
    assert.ok(summary !== null && summary[1] === summary[2] && Number(summary[1]) >= 15 && !/failed/.test(out), out);
    t.diagnostic(summary[0]);
  });
});
