import { spawn } from 'node:child_process';
import { basename } from 'node:path';
import type { VirtualClock } from './clock';

/**
 * Host executors: what the local SSM agent does with a command. The recording one answers from a
 * script the test programs; the shell one runs the document's real script with bash on this machine.
 */

/** One command invocation handed to a host. */
export interface ExecRequest {
  instanceId: string;
  documentName: string;
  /** Path of the script the document runs (an agent-scripts/*.sh file); '' for an inline document. */
  scriptFile: string;
  /** The document's shell commands when it has no script file (documents created through the API). */
  script?: string;
  /** Parameter values as the script sees them (`SSM_<Name>`), defaults applied. */
  parameters: Record<string, string>;
  /** The document's execution timeout (aws:runShellScript `timeoutSeconds`, default 3600). */
  timeoutSeconds?: number;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Virtual time the run takes (the recording executor's duration); real runs take none. */
  durationMs?: number;
  /** The run was stopped at its execution timeout. */
  timedOut?: boolean;
}

export interface HostExecutor {
  run(request: ExecRequest): Promise<ExecResult>;
}

export type Responder = (request: ExecRequest) => Partial<ExecResult> | Promise<Partial<ExecResult>>;

/**
 * Records every request; answers as programmed per script (basename, `prepare-node.sh`) or per
 * document name, else exit 0 with one JSON line `{"ok":true,"action":"<script basename>"}`.
 * Each run takes `durationMs` of virtual time (default 2 s) unless its answer says otherwise.
 */
export class RecordingExecutor implements HostExecutor {
  readonly requests: ExecRequest[] = [];
  durationMs = 2000;
  private responders = new Map<string, Responder>();

  /** Programs the answer for a script (`grow-filesystem.sh`) or a document name. */
  respond(scriptOrDocument: string, answer: Responder | Partial<ExecResult>): void {
    this.responders.set(scriptOrDocument, typeof answer === 'function' ? answer : () => answer);
  }

  /** Forgets programmed answers (recorded requests stay). */
  reset(): void {
    this.responders.clear();
  }

  /** Requests that ran a script (basename) or document. */
  requestsFor(scriptOrDocument: string): ExecRequest[] {
    return this.requests.filter(
      (r) => r.documentName === scriptOrDocument || scriptName(r) === scriptOrDocument,
    );
  }

  async run(request: ExecRequest): Promise<ExecResult> {
    this.requests.push(structuredClone(request));
    const responder = this.responders.get(scriptName(request)) ?? this.responders.get(request.documentName);
    const answer = responder ? await responder(request) : {};
    return {
      exitCode: answer.exitCode ?? 0,
      stdout: answer.stdout ?? `${JSON.stringify({ ok: true, action: scriptName(request) })}\n`,
      stderr: answer.stderr ?? '',
      durationMs: answer.durationMs ?? this.durationMs,
      ...(answer.timedOut ? { timedOut: true } : {}),
    };
  }
}

export interface ShellExecutorOptions {
  /** The cloud's clock: virtual time stands still while a script runs. */
  clock: VirtualClock;
  /** Per-instance environment overrides (the demo points BERTH_DEVICE_DIR / BERTH_HOST_ROOT here). */
  envFor?: (instanceId: string) => Record<string, string>;
  /**
   * Command prefix a run on an instance goes through (e.g. `nsenter --net=/run/netns/<ns>`: the
   * script then runs in the instance's network namespace); none when undefined or empty.
   */
  wrapFor?: (instanceId: string) => string[];
  /** Environment every run gets (default: PATH, HOME, LANG of this process). */
  baseEnv?: Record<string, string>;
  /** Real-time cap of a run, whatever the document says (default: the document's timeout). */
  maxRealMs?: number;
  bash?: string;
}

/**
 * Runs the document's real script with bash on this machine. Each parameter reaches the script as
 * the environment variable `SSM_<Name>` (SSM `interpolationType: ENV_VAR`), plus the overrides of
 * `envFor(instanceId)`. The child process is tracked by the virtual clock (time stands still while
 * it runs); a run that exceeds the document's execution timeout (in real time) is killed and
 * reported as timed out.
 */
export class ShellExecutor implements HostExecutor {
  readonly requests: ExecRequest[] = [];

  constructor(private readonly options: ShellExecutorOptions) {}

  run(request: ExecRequest): Promise<ExecResult> {
    this.requests.push(structuredClone(request));
    return this.options.clock.track(this.spawn(request));
  }

  private spawn(request: ExecRequest): Promise<ExecResult> {
    const env: Record<string, string> = {
      ...(this.options.baseEnv ?? defaultEnv()),
      ...Object.fromEntries(Object.entries(request.parameters).map(([k, v]) => [`SSM_${k}`, v])),
      ...(this.options.envFor?.(request.instanceId) ?? {}),
    };
    const args = request.scriptFile ? [request.scriptFile] : ['-c', request.script ?? ''];
    const [command, ...argv] = [
      ...(this.options.wrapFor?.(request.instanceId) ?? []),
      this.options.bash ?? 'bash',
      ...args,
    ];
    const timeoutMs = Math.min(this.options.maxRealMs ?? Infinity, (request.timeoutSeconds ?? 3600) * 1000);
    return new Promise<ExecResult>((resolve) => {
      // Its own process group, so that a timeout kills the script's children too.
      const child = spawn(command ?? 'bash', argv, {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }, timeoutMs);
      child.on('error', (error) => {
        clearTimeout(timer);
        resolve({ exitCode: 127, stdout, stderr: `${stderr}${error.message}\n`, durationMs: 0 });
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({
          exitCode: code ?? (signal ? 128 + signalNumber(signal) : 1),
          stdout,
          stderr,
          durationMs: 0,
          ...(timedOut ? { timedOut: true } : {}),
        });
      });
    });
  }
}

function scriptName(request: ExecRequest): string {
  return request.scriptFile ? basename(request.scriptFile) : request.documentName;
}

function defaultEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ['PATH', 'HOME', 'LANG', 'TMPDIR']) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}

function signalNumber(signal: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[signal] ?? 0;
}
