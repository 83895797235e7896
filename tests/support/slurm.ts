/**
 * A one-node Slurm cluster on localhost for tests: `munged`, `slurmctld` and
 * `slurmd` started in the foreground as children of this process, with their
 * own key, sockets, ports, state and logs in a temporary folder, so that a
 * Slurm already installed on the machine is left alone. Installs nothing:
 * Debian's `slurm-wlm` and `munge` packages must be there
 * ({@link missingSlurm} says which program is not). Needs root (slurmd
 * launches jobs as the submitting user; `munged --force` runs as root).
 *
 * ```ts
 * const slurm = await LocalSlurm.start();
 * const id = await slurm.sbatch("job.sh", [], ["--array=0-2"]);
 * const jobs = await slurm.waitFor([id], 60_000);
 * await slurm.stop();
 * ```
 *
 * Checked with Debian 12's Slurm 22.05.8 and munge 0.5.15: ready in well
 * under a second.
 * @module
 */

/** Programs the cluster needs, from Debian's `slurm-wlm` and `munge`. */
export const SLURM_PROGRAMS = [
  "munged",
  "slurmctld",
  "slurmd",
  "sbatch",
  "squeue",
  "scontrol",
  "sinfo",
  "scancel",
] as const;

/**
 * The absolute path of `program` on PATH, then /usr/sbin and /sbin (where
 * Debian puts the daemons, often not on a user's PATH); null when absent.
 */
export function findProgram(program: string): string | null {
  const path = (Deno.env.get("PATH") ?? "") + ":/usr/sbin:/sbin";
  for (const dir of path.split(":")) {
    if (dir === "") continue;
    try {
      if (Deno.statSync(`${dir}/${program}`).isFile) return `${dir}/${program}`;
    } catch { /* not here */ }
  }
  return null;
}

/** The first of {@link SLURM_PROGRAMS} not found by {@link findProgram}, or null when all are there. */
export function missingSlurm(): string | null {
  return SLURM_PROGRAMS.find((program) => findProgram(program) === null) ?? null;
}

/**
 * Whether this process runs as root (from /proc/self/status, or `id -u`;
 * Deno.uid() would need --allow-sys).
 */
export function isRoot(): boolean {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const uid = /^Uid:\s+(\d+)/m.exec(status);
    if (uid !== null) return uid[1] === "0";
  } catch { /* not Linux */ }
  try {
    const out = new Deno.Command("id", { args: ["-u"] }).outputSync();
    return new TextDecoder().decode(out.stdout).trim() === "0";
  } catch {
    return false;
  }
}

/** Options of {@link LocalSlurm.start}. */
export interface LocalSlurmOptions {
  /** CPUs of the node (default: this machine's); more than there are lets more jobs run at once. */
  cpus?: number;
  /** Seconds to wait for the node to become idle (default 30). */
  startTimeoutS?: number;
}

/** One job, or one task of an array job, as `scontrol show job` reports it. */
export interface SlurmJob {
  /** The job's own id. */
  jobId: number;
  /** For an array task: the array's job id. */
  arrayJobId: number | null;
  /** For an array task: its index; for a pending array not yet split: the range (e.g. "0-2"). */
  arrayTaskId: string | null;
  /** JobState, e.g. PENDING, RUNNING, COMPLETED, FAILED, CANCELLED. */
  state: string;
  /** Reason, e.g. None, Dependency, DependencyNeverSatisfied. */
  reason: string;
  /** ExitCode, "status:signal". */
  exitCode: string;
}

/** States after which a job does not change. */
const FINAL_STATES = new Set([
  "COMPLETED",
  "FAILED",
  "CANCELLED",
  "TIMEOUT",
  "NODE_FAIL",
  "PREEMPTED",
  "BOOT_FAIL",
  "DEADLINE",
  "OUT_OF_MEMORY",
]);

/** A free TCP port on 127.0.0.1 (free when asked; the daemons bind it right after). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** The last `lines` lines of a text file, or a note that it cannot be read. */
function tail(path: string, lines = 15): string {
  try {
    return Deno.readTextFileSync(path).trimEnd().split("\n").slice(-lines).join("\n");
  } catch (e) {
    return `(${path}: ${(e as Error).message})`;
  }
}

/** The environment without any Slurm variables of an enclosing job or user setting. */
function cleanEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) {
    if (!/^(SLURM_|SBATCH_|SALLOC_|SRUN_|SQUEUE_|SINFO_|SCONTROL_)/.test(k)) env[k] = v;
  }
  return env;
}

/** A running one-node Slurm cluster; {@link LocalSlurm.stop} ends it. */
export class LocalSlurm {
  /** The temporary folder holding the configuration, key, state and logs. */
  readonly dir: string;
  /** Path of its slurm.conf. */
  readonly conf: string;
  /** The environment for Slurm's commands and for jobs: this process's, SLURM_CONF pointing at {@link conf}. */
  readonly env: Record<string, string>;
  /** The node's name. */
  readonly node = "loftrnode";
  #children: { name: string; process: Deno.ChildProcess }[] = [];
  #stopped = false;

  private constructor(dir: string) {
    this.dir = dir;
    this.conf = `${dir}/slurm.conf`;
    this.env = { ...cleanEnvironment(), SLURM_CONF: this.conf };
  }

  /**
   * Starts munged, slurmctld and slurmd and waits until the node is idle.
   * Throws (after stopping what it started) with the daemons' log tails
   * when they do not come up.
   */
  static async start(options: LocalSlurmOptions = {}): Promise<LocalSlurm> {
    if (!isRoot()) throw new Error("LocalSlurm: needs root (slurmd, munged --force)");
    const dir = await Deno.makeTempDir({ prefix: "deno-loftr-slurm-" });
    const slurm = new LocalSlurm(dir);
    try {
      await slurm.#start(options);
      return slurm;
    } catch (e) {
      await slurm.stop();
      throw e;
    }
  }

  async #start(options: LocalSlurmOptions): Promise<void> {
    const d = this.dir;
    // munged wants its socket folder reachable by all and its key private.
    await Deno.chmod(d, 0o755);
    for (const sub of ["munge", "key", "state", "spool", "log"]) await Deno.mkdir(`${d}/${sub}`);
    await Deno.chmod(`${d}/key`, 0o700);
    await Deno.writeFile(`${d}/key/munge.key`, crypto.getRandomValues(new Uint8Array(1024)), {
      mode: 0o600,
    });
    await Deno.writeTextFile(`${d}/plugstack.conf`, "");
    const cpus = options.cpus ?? navigator.hardwareConcurrency;
    const conf = [
      "ClusterName=loftrtest",
      "SlurmctldHost=localhost(127.0.0.1)",
      `SlurmctldPort=${freePort()}`,
      `SlurmdPort=${freePort()}`,
      "SlurmUser=root",
      "SlurmdUser=root",
      "AuthType=auth/munge",
      "CredType=cred/munge",
      `AuthInfo=socket=${d}/munge/munge.socket`,
      `StateSaveLocation=${d}/state`,
      `SlurmdSpoolDir=${d}/spool`,
      `SlurmctldPidFile=${d}/slurmctld.pid`,
      `SlurmdPidFile=${d}/slurmd.pid`,
      `SlurmctldLogFile=${d}/log/slurmctld.log`,
      `SlurmdLogFile=${d}/log/slurmd.log`,
      `PlugStackConfig=${d}/plugstack.conf`,
      "ProctrackType=proctrack/linuxproc",
      "TaskPlugin=task/none",
      "SelectType=select/cons_tres",
      "SelectTypeParameters=CR_CPU",
      "JobAcctGatherType=jobacct_gather/none",
      "AccountingStorageType=accounting_storage/none",
      "JobCompType=jobcomp/none",
      "MpiDefault=none",
      "ReturnToService=2",
      "SchedulerType=sched/backfill",
      // Schedule at once on submission and completion (defaults: up to 3 s late).
      "SchedulerParameters=batch_sched_delay=0,sched_min_interval=0",
      "MinJobAge=3600",
      "KillWait=2",
      "MailProg=/bin/true",
      `NodeName=${this.node} NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=1024 State=UNKNOWN`,
      `PartitionName=debug Nodes=${this.node} Default=YES MaxTime=INFINITE State=UP`,
      `SlurmdParameters=config_overrides`,
    ];
    await Deno.writeTextFile(this.conf, conf.join("\n") + "\n");
    this.#spawn("munged", [
      "--foreground",
      "--force",
      `--socket=${d}/munge/munge.socket`,
      `--key-file=${d}/key/munge.key`,
      `--pid-file=${d}/munge/munged.pid`,
      `--log-file=${d}/log/munged.log`,
      `--seed-file=${d}/munge/munged.seed`,
    ]);
    await this.#until(() => exists(`${d}/munge/munge.socket`), 10, "munged's socket");
    this.#spawn("slurmctld", ["-D", "-f", this.conf]);
    this.#spawn("slurmd", ["-D", "-f", this.conf, "-N", this.node]);
    await this.#until(
      async () => (await this.run("sinfo", ["-h", "-n", this.node, "-o", "%T"], true)) === "idle",
      options.startTimeoutS ?? 30,
      `node ${this.node} idle in sinfo`,
    );
  }

  #spawn(program: string, args: string[]): void {
    const process = new Deno.Command(findProgram(program) ?? program, {
      args,
      env: this.env,
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.#children.push({ name: program, process });
  }

  /** Polls `ready` every 100 ms until it holds; throws with the logs after `seconds`. */
  async #until(ready: () => Promise<boolean> | boolean, seconds: number, what: string) {
    const end = Date.now() + seconds * 1000;
    while (!(await ready())) {
      if (Date.now() > end) {
        throw new Error(`LocalSlurm: no ${what} after ${seconds} s\n${this.logs()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The tails of the daemons' logs, for error messages. */
  logs(): string {
    return ["munged", "slurmctld", "slurmd"]
      .map((name) => `--- ${name}.log\n${tail(`${this.dir}/log/${name}.log`)}`)
      .join("\n");
  }

  /**
   * Runs a Slurm command (sinfo, squeue, scontrol, …) against this cluster
   * and returns its standard output, trimmed. Throws with its standard error
   * when it fails, unless `quiet` (then returns "").
   */
  async run(program: string, args: string[], quiet = false): Promise<string> {
    const out = await new Deno.Command(findProgram(program) ?? program, {
      args,
      env: this.env,
      clearEnv: true,
      stdin: "null",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    if (!out.success) {
      if (quiet) return "";
      const err = new TextDecoder().decode(out.stderr).trim();
      throw new Error(`${program} ${args.join(" ")}: exit ${out.code}: ${err}`);
    }
    return text;
  }

  /**
   * Submits `script` with `args` (`sbatch [options] script [args]`) and
   * returns the job id. Options, e.g. `["--array=0-2"]`,
   * `["--dependency=afterok:7"]`; output goes where `--output` says (default:
   * slurm-%j.out in the folder named by `--chdir`, else this process's).
   */
  async sbatch(script: string, args: string[] = [], options: string[] = []): Promise<number> {
    const text = await this.run("sbatch", ["--parsable", ...options, script, ...args]);
    const id = Number(text.split(";")[0]);
    if (!Number.isSafeInteger(id)) throw new Error(`sbatch: unexpected output: ${text}`);
    return id;
  }

  /** The jobs (array tasks one by one) of job `id`, from `scontrol show job`; [] when unknown. */
  async jobs(id: number): Promise<SlurmJob[]> {
    const text = await this.run("scontrol", ["-o", "show", "job", String(id)], true);
    const field = (line: string, key: string) => new RegExp(`(?:^| )${key}=(\\S*)`).exec(line)?.[1];
    return text.split("\n").filter((line) => line.startsWith("JobId=")).map((line) => {
      const arrayJobId = field(line, "ArrayJobId");
      return {
        jobId: Number(field(line, "JobId")),
        arrayJobId: arrayJobId === undefined ? null : Number(arrayJobId),
        arrayTaskId: field(line, "ArrayTaskId") ?? null,
        state: field(line, "JobState") ?? "?",
        reason: field(line, "Reason") ?? "?",
        exitCode: field(line, "ExitCode") ?? "?",
      };
    });
  }

  /**
   * Waits until every job of `ids` (every task of an array) has ended —
   * COMPLETED, FAILED, CANCELLED, … or pending on a dependency that can never
   * be satisfied — and returns their final records, array tasks by index.
   * Throws after `timeoutMs` with the jobs' states and the daemons' logs.
   */
  async waitFor(ids: number[], timeoutMs: number): Promise<SlurmJob[]> {
    const end = Date.now() + timeoutMs;
    let jobs: SlurmJob[] = [];
    while (true) {
      jobs = (await Promise.all(ids.map((id) => this.jobs(id)))).flat();
      const ended = (j: SlurmJob) =>
        FINAL_STATES.has(j.state) ||
        (j.state === "PENDING" && j.reason === "DependencyNeverSatisfied");
      const everyIdKnown = ids.every((id) =>
        jobs.some((j) => j.jobId === id || j.arrayJobId === id)
      );
      if (everyIdKnown && jobs.every(ended)) break;
      if (Date.now() > end) {
        const states = jobs.map((j) =>
          `${j.jobId}${j.arrayTaskId ? `[${j.arrayTaskId}]` : ""} ${j.state} (${j.reason})`
        );
        throw new Error(
          `LocalSlurm: jobs ${ids} not done after ${timeoutMs} ms: ${
            states.join(", ")
          }\n${this.logs()}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const task = (j: SlurmJob) => Number(j.arrayTaskId ?? -1);
    return jobs.sort((a, b) =>
      (a.arrayJobId ?? a.jobId) - (b.arrayJobId ?? b.jobId) || task(a) - task(b)
    );
  }

  /**
   * Cancels every job, stops slurmd, slurmctld and munged (SIGTERM, then
   * SIGKILL after 10 s) and removes the temporary folder. Safe to call twice.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#children.some((c) => c.name === "slurmctld")) {
      await this.run("scancel", ["--user=root"], true);
      const end = Date.now() + 10_000;
      while (
        Date.now() < end &&
        (await this.run("squeue", ["-h", "-t", "RUNNING,COMPLETING"], true)) !== ""
      ) {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    for (const { process } of this.#children.toReversed()) {
      try {
        process.kill("SIGTERM");
      } catch { /* already ended */ }
      const timer = setTimeout(() => {
        try {
          process.kill("SIGKILL");
        } catch { /* ended meanwhile */ }
      }, 10_000);
      await process.status;
      clearTimeout(timer);
    }
    this.#children = [];
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** Whether a path exists. */
async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}
