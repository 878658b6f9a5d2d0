/**
 * What one fault costs (issue 8): the backup of the same cluster, through the loopback fault
 * relay in front of a bluestore RGW, with no fault and with one connection reset in the middle
 * of a part upload, alternated three times each. It prints the median run time of each, the
 * difference, and the peak RSS of the faulted runs (a part is re-sent from its buffer, so memory
 * must not grow). Figures only; nothing is asserted.
 *
 * Usage: `deno run --allow-all tests/bench/fault_bench.ts [--size-mib 256] [--runs 3]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startFaultRelay } from "../harness/fault_relay.ts";
import { spawnEntrypoint } from "../harness/run.ts";
import { startSizedStack } from "./_bench_data.ts";
import { RssSampler } from "./_bench_measure.ts";

const MiB = 1024 * 1024;

function say(text: string): void {
  console.error(`[fault bench ${new Date().toISOString().slice(11, 19)}] ${text}`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      "size-mib": { type: "string", default: "256" },
      runs: { type: "string", default: "3" },
    },
  });
  const sizeMiB = Number(values["size-mib"]);
  const runs = Number(values.runs);
  say("starting the stack (source PostgreSQL 18, RGW on bluestore) and the fault relay");
  await using stack = await startSizedStack(sizeMiB, say);
  await using relay = startFaultRelay(stack.s3.endpoint);
  const env = { ...stack.backupEnv, S3_ENDPOINT: relay.endpoint };

  const once = async (fault: boolean, n: number) => {
    relay.clear();
    if (fault) {
      relay.inject({
        name: "reset",
        match: (r) => r.method === "PUT" && /(^|&)partNumber=3(&|$)/.test(r.query),
        fault: { kind: "reset", direction: "request", afterBytes: 4 * MiB },
      });
    }
    const run = spawnEntrypoint("backup.ts", { ...env, S3_PREFIX: `fault-bench-${n}` }, [], {
      timeoutMs: 3600_000,
    });
    const sampler = new RssSampler(run.pid);
    const result = await run.result;
    const peaks = sampler.stop();
    if (result.code !== 0) throw new Error(`backup failed: ${result.stderr.slice(-2000)}`);
    const retries = result.lines.filter((l) => l.msg === "S3 request failed; retrying").length;
    if (fault && (relay.hits("reset") !== 1 || retries !== 1)) {
      throw new Error(
        `the fault did not happen once (hits ${relay.hits("reset")}, retries ${retries})`,
      );
    }
    const ok = result.lines.find((l) => l.msg === "backup OK")!;
    return {
      seconds: result.durationMs / 1000,
      rssMiB: peaks.hwmBytes / MiB,
      dumpMiB: Number(ok.dump_bytes) / MiB,
      compressedMiB: Number(ok.bytes) / MiB,
    };
  };

  const clean: number[] = [];
  const faulted: number[] = [];
  const rss: number[] = [];
  const cleanRss: number[] = [];
  let sizes = { dumpMiB: 0, compressedMiB: 0 };
  for (let i = 0; i < runs; i++) {
    say(`run ${i + 1}/${runs}: without a fault`);
    const a = await once(false, 2 * i);
    clean.push(a.seconds);
    cleanRss.push(a.rssMiB);
    sizes = a;
    say(`run ${i + 1}/${runs}: one reset in the middle of part 3`);
    const b = await once(true, 2 * i + 1);
    faulted.push(b.seconds);
    rss.push(b.rssMiB);
  }
  const cost = median(faulted) - median(clean);
  console.log(`\nwhat one fault costs (${runs} runs each, medians)`);
  console.log(
    `dump / compressed MiB                ${sizes.dumpMiB.toFixed(0)} / ${
      sizes.compressedMiB.toFixed(0)
    }`,
  );
  console.log(
    `backup without a fault s             ${median(clean).toFixed(2)}  (${
      clean.map((s) => s.toFixed(2)).join(", ")
    })`,
  );
  console.log(
    `backup with one reset mid-upload s   ${median(faulted).toFixed(2)}  (${
      faulted.map((s) => s.toFixed(2)).join(", ")
    })`,
  );
  console.log(
    `cost of the fault s (%)              ${cost.toFixed(2)} (${
      ((cost / median(clean)) * 100).toFixed(1)
    }%)`,
  );
  console.log(
    `peak RSS MiB without / with the fault ${Math.max(...cleanRss).toFixed(0)} / ${
      Math.max(...rss).toFixed(0)
    }`,
  );
}

if (import.meta.main) await main(Deno.args);
