// The README's "TypeScript: a Portfolio service on @crypto-quant/cqc/kit", run as written: its server.ts (which
// must be examples/typescript/portfolio-server/server.ts, byte for byte) is started, then its cqc-conformance
// command runs the Portfolio suite against it (the Python package's runner, `python -m cqc.conformance`).
// The package imports are pointed at the sources (the package is not built for this test). `nox -s
// test-typescript` puts the shared Python environment on PATH and sets CQC_EXAMPLE_SUITE=required, so that a
// missing runner fails there instead of skipping.
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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

/** A Python with the suite's runner: the shared nox environment puts one first on PATH. */
function suitePython(): string | undefined {
  for (const python of ["python", "python3"]) {
    try {
      execFileSync(python, ["-c", "import cqc.conformance"], { stdio: "ignore" });
      return python;
    } catch {
      // not this one
    }
  }
  return undefined;
}

describe("README: implement a service (TypeScript)", () => {
  const scratch = join(root, "test", `.guide-${process.pid}`);
  let server: ChildProcess | undefined;

  after(() => {
    server?.kill("SIGTERM");
    rmSync(scratch, { recursive: true, force: true });
  });

  it("its server.ts is examples/typescript/portfolio-server/server.ts", () => {
    const [code] = blocks(guide(), "ts");
    const example = readFileSync(join(repo, "examples", "typescript", "portfolio-server", "server.ts"), "utf8");
    assert.equal(code, example);
  });

  it("the server passes its cqc-conformance command", async (t) => {
    const python = suitePython();
    if (python === undefined) {
      if (process.env.CQC_EXAMPLE_SUITE === "required") {
        assert.fail("no python with cqc.conformance on PATH (nox -s test-typescript provides one)");
      }
      t.skip("no python with cqc.conformance on PATH (run under nox -s test-typescript)");
      return;
    }
    const section = guide();
    const code = blocks(section, "ts")[0]!
      .replaceAll('"@crypto-quant/cqc/kit"', '"../../src/kit/index.js"')
      .replaceAll('"@crypto-quant/cqc/portfolio/v1"', '"../../src/gen/cqc/portfolio/v1/index.js"')
      .replaceAll('"@crypto-quant/cqc/services/v1"', '"../../src/gen/cqc/services/v1/index.js"');
    assert.doesNotMatch(code, /from "@crypto-quant\/cqc/, "an import the test does not point at the sources");
    const run = blocks(section, "bash").at(-1)!.replaceAll("\\\n", " ");
    const command = run.split("\n").find((line) => line.startsWith("cqc-conformance "));
    assert.ok(command !== undefined, "the guide's last bash block runs cqc-conformance");
    const args = command.trim().split(/\s+/).slice(1);
    assert.ok(run.includes("node --import tsx server.ts --addr") && args.includes("--target"));

    mkdirSync(scratch, { recursive: true });
    writeFileSync(join(scratch, "server.ts"), code);
    const portFile = join(scratch, ".port");
    server = spawn(process.execPath, ["--import", "tsx", join(scratch, "server.ts"), "--addr", "127.0.0.1:0", "--port-file", portFile], {
      cwd: root,
      stdio: ["ignore", "ignore", "inherit"],
    });
    const deadline = Date.now() + 60_000;
    while (!existsSync(portFile) || readFileSync(portFile, "utf8") === "") {
      assert.ok(Date.now() < deadline && server.exitCode === null, "the server did not start within 60 s");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    args[args.indexOf("--target") + 1] = `127.0.0.1:${readFileSync(portFile, "utf8")}`;
    let out = "";
    try {
      out = execFileSync(python, ["-m", "cqc.conformance", ...args], { cwd: repo, encoding: "utf8", timeout: 120_000 });
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      assert.fail(`cqc-conformance failed:\n${e.stdout ?? ""}${e.stderr ?? ""}`);
    }
    const summary = /Portfolio: (\d+) cases, (\d+) passed/.exec(out);
    assert.ok(summary !== null && summary[1] === summary[2] && Number(summary[1]) >= 15 && !/failed/.test(out), out);
    t.diagnostic(out.trim().split("\n").at(-1)!);
  });
});
