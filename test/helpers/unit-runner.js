#!/usr/bin/env node
/**
 * A stand-in for `systemctl` for ONE host root, given to the agent scripts as BERTH_SYSTEMCTL by
 * the network-namespace world (test/helpers/net-world.ts). It models what berth relies on:
 *
 *   start | stop | restart | is-active | is-enabled | daemon-reload | enable | disable  [--] <unit>...
 *
 * - Units are read at every call (so daemon-reload has nothing to do) from
 *   <root>/etc/systemd/system, <root>/lib/systemd/system, <root>/usr/lib/systemd/system (first
 *   found), and drop-ins <dir>/<unit>.d/*.conf of those folders, by file name in lexical order (a
 *   name in /etc hides the same name below). An empty assignment of a list setting resets it.
 * - Service: Environment=, EnvironmentFile=, UnsetEnvironment= (`-` = optional; host paths, below the root),
 *   ExecStartPre=, ExecStart= with systemd's expansion (`${VAR}` one word, `$VAR` as a word splits
 *   at whitespace) and prefixes `-` `+` `@` `!` `!!` `:`, Type=oneshot (ExecStart lines run to
 *   completion; RemainAfterExit=), User= ignored (runs as root), specifiers %n %N %p %i %H %%.
 * - Unit: Wants=/Requires= started first (a failed Requires= fails the start);
 *   AssertPathIsMountPoint= and RequiresMountsFor= unmet: `start` fails (exit 1);
 *   ConditionPathIsMountPoint= unmet: skipped (exit 0, not started). Checked on <root><path>
 *   with `mountpoint -q`.
 * - Every process of a unit sees the host root as `/` (private mount namespace + chroot, with this
 *   machine's /usr, /bin, /lib, /dev, /proc, /sys, /etc/alternatives bound in), as on the instance.
 * - A service runs as a daemon in the CURRENT network namespace, in its own session (setsid),
 *   stdout and stderr to <state>/<unit>.log (never the caller's pipes), its pid in
 *   <state>/<unit>.pid. stop: SIGTERM to its process group, up to BERTH_UNIT_STOP_SECONDS (10),
 *   then SIGKILL. berth-node-network.service is always a oneshot.
 * - Every call is appended to <state>/calls.log as one JSON line {at, argv, exit, message}.
 *
 * Environment: BERTH_HOST_ROOT ("" = /), BERTH_UNIT_STATE_DIR (default <root>/run/unit-runner).
 * Used as a module, it exports the pure parts for the table tests (unit-runner.d.ts types them).
 */
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const LIST_SETTINGS = new Set([
  'Environment',
  'UnsetEnvironment',
  'EnvironmentFile',
  'ExecStartPre',
  'ExecStart',
  'ExecStartPost',
  'ExecStop',
  'AssertPathIsMountPoint',
  'ConditionPathIsMountPoint',
  'RequiresMountsFor',
  'After',
  'Before',
  'Wants',
  'Requires',
  'WantedBy',
  'RequiredBy',
  'Alias',
]);
const ALWAYS_ONESHOT = new Set(['berth-node-network.service']);
const UNIT_DIRS = ['etc/systemd/system', 'lib/systemd/system', 'usr/lib/systemd/system'];

// --- parsing (pure) -------------------------------------------------------------------------------

/** [{section, key, value}] of a unit file, in order (comments, blank lines, continuations handled). */
function parseUnitText(text) {
  const entries = [];
  let section = '';
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i].replace(/\r$/, '');
    if (/^\s*[#;]/.test(line) || line.trim() === '') continue;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      const next = lines[++i].replace(/\r$/, '');
      if (/^\s*[#;]/.test(next)) continue;
      line = `${line.slice(0, -1)} ${next}`;
    }
    line = line.trim();
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = header[1];
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    entries.push({ section, key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim() });
  }
  return entries;
}

/**
 * Folds the entries of the unit file and its drop-ins (in order) into settings: a list setting
 * accumulates, an empty value resets it; any other setting keeps its last value.
 */
function foldEntries(entryLists) {
  const unit = { lists: {}, values: {} };
  for (const entries of entryLists) {
    for (const { section, key, value } of entries) {
      const name = `${section}.${key}`;
      if (LIST_SETTINGS.has(key)) {
        if (value === '') unit.lists[name] = [];
        else (unit.lists[name] ??= []).push(value);
      } else unit.values[name] = value;
    }
  }
  return unit;
}

/** Splits a line into words as systemd does (quotes, backslash escapes). */
function splitWords(text) {
  const words = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i])) i++;
    if (i >= text.length) break;
    let word = '';
    let quoted = false;
    while (i < text.length && !/\s/.test(text[i])) {
      const c = text[i];
      if (c === '"' || c === "'") {
        quoted = true;
        const end = text.indexOf(c, i + 1);
        if (end < 0) throw new Error(`unbalanced quotes in: ${text}`);
        word += text.slice(i + 1, end).replace(/\\(.)/g, '$1');
        i = end + 1;
      } else if (c === '\\' && i + 1 < text.length) {
        word += text[i + 1];
        i += 2;
      } else {
        word += c;
        i++;
      }
    }
    words.push({ word, quoted });
  }
  return words;
}

/** Environment= values: each a list of KEY=VALUE words (quotes allowed). */
function parseEnvironmentAssignments(values) {
  const env = {};
  for (const value of values) {
    for (const { word } of splitWords(value)) {
      const eq = word.indexOf('=');
      if (eq > 0) env[word.slice(0, eq)] = word.slice(eq + 1);
    }
  }
  return env;
}

/** An EnvironmentFile's KEY=VALUE lines (comments and blank lines skipped, quotes removed). */
function parseEnvironmentFile(text) {
  const env = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0]))
      value = value.slice(1, -1);
    env[line.slice(0, eq).trim()] = value;
  }
  return env;
}

/** Replaces the specifiers systemd knows that berth's units could use. */
function expandSpecifiers(text, unitName, hostname = os.hostname()) {
  const dot = unitName.lastIndexOf('.');
  const full = dot > 0 ? unitName.slice(0, dot) : unitName;
  const at = full.indexOf('@');
  const prefix = at >= 0 ? full.slice(0, at) : full;
  const instance = at >= 0 ? full.slice(at + 1) : '';
  return text.replace(/%(.)/g, (match, c) => {
    switch (c) {
      case 'n':
        return unitName;
      case 'N':
        return full;
      case 'p':
        return prefix;
      case 'i':
      case 'I':
        return instance;
      case 'H':
        return hostname;
      case '%':
        return '%';
      default:
        return match;
    }
  });
}

/**
 * One Exec*= line: its prefixes and argv after systemd's variable expansion. `${VAR}` is replaced
 * inside its word (one argument); `$VAR` alone as a word becomes the value split at whitespace
 * (zero or more arguments); `$$` is a `$`. With `:` nothing is expanded.
 */
function parseExecLine(line, env) {
  let rest = line.trim();
  const prefixes = { ignoreFailure: false, privileged: false, withArgv0: false, noExpand: false };
  for (;;) {
    if (rest.startsWith('!!')) {
      prefixes.privileged = true;
      rest = rest.slice(2);
      continue;
    }
    const c = rest[0];
    if (c === '-') prefixes.ignoreFailure = true;
    else if (c === '+' || c === '!') prefixes.privileged = true;
    else if (c === '@') prefixes.withArgv0 = true;
    else if (c === ':') prefixes.noExpand = true;
    else break;
    rest = rest.slice(1);
  }
  const argv = [];
  for (const { word, quoted } of splitWords(rest)) {
    if (prefixes.noExpand) {
      argv.push(word);
      continue;
    }
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
    if (whole && !quoted) {
      argv.push(...(env[whole[1]] ?? '').split(/\s+/).filter(Boolean));
      continue;
    }
    argv.push(
      word.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, name) =>
        m === '$$' ? '$' : (env[name] ?? ''),
      ),
    );
  }
  let argv0;
  if (prefixes.withArgv0) {
    argv0 = argv[1];
    argv.splice(1, 1);
  }
  return { ...prefixes, argv, argv0 };
}

/**
 * A unit's process sees the host root as its `/`, as on the instance: in a private mount namespace
 * (nothing it mounts is seen outside, and it ends with the process), this machine's programs and
 * devices are bound into the root, then it is chrooted there. Only for a root other than `/`.
 */
const IN_ROOT = [
  'root=$1; shift',
  // etc/alternatives: the programs' own symlinks (awk -> /etc/alternatives/awk -> mawk).
  'for d in usr bin sbin lib lib64 dev proc sys etc/alternatives; do',
  '  [ -e "/$d" ] || continue',
  '  [ -L "$root/$d" ] && continue',
  '  mkdir -p "$root/$d" && mount --rbind "/$d" "$root/$d" || exit 126',
  'done',
  'mkdir -p "$root/tmp" "$root/run"',
  'exec chroot "$root" "$@"',
].join('\n');

/** The command that runs argv with the host root as `/` (argv itself for the machine's root). */
function inRoot(root, argv) {
  return root
    ? ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', IN_ROOT, 'sh', root, ...argv]
    : argv;
}

// --- loading from a host root ---------------------------------------------------------------------

function hostPath(root, p) {
  return root ? path.join(root, p) : p;
}

/** The unit's file and drop-ins below the root, folded; undefined if there is no unit file. */
function loadUnit(root, name) {
  let file;
  for (const dir of UNIT_DIRS) {
    const candidate = hostPath(root, `/${dir}/${name}`);
    if (fs.existsSync(candidate)) {
      file = candidate;
      break;
    }
  }
  if (!file) return undefined;
  const dropIns = new Map();
  for (const dir of [...UNIT_DIRS].reverse()) {
    const d = hostPath(root, `/${dir}/${name}.d`);
    if (!fs.existsSync(d)) continue;
    for (const entry of fs.readdirSync(d))
      if (entry.endsWith('.conf')) dropIns.set(entry, path.join(d, entry));
  }
  const files = [file, ...[...dropIns.keys()].sort().map((k) => dropIns.get(k))];
  const unit = foldEntries(files.map((f) => parseUnitText(fs.readFileSync(f, 'utf8'))));
  return { name, files, ...unit };
}

function list(unit, key, section = 'Service') {
  return unit.lists[`${section}.${key}`] ?? [];
}

function value(unit, key, section = 'Service') {
  return unit.values[`${section}.${key}`];
}

/** The environment of the unit's processes: PATH, Environment=, then EnvironmentFile= (overrides). */
function unitEnvironment(root, unit) {
  const env = {
    PATH: process.env.PATH || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: 'C',
  };
  const spec = (v) => expandSpecifiers(v, unit.name);
  Object.assign(env, parseEnvironmentAssignments(list(unit, 'Environment').map(spec)));
  for (const raw of list(unit, 'EnvironmentFile').map(spec)) {
    const optional = raw.startsWith('-');
    const file = hostPath(root, optional ? raw.slice(1) : raw);
    if (!fs.existsSync(file)) {
      if (optional) continue;
      throw new StartError(`Failed to load environment files: ${file} (No such file or directory)`);
    }
    Object.assign(env, parseEnvironmentFile(fs.readFileSync(file, 'utf8')));
  }
  // UnsetEnvironment= is applied last: a name removes the variable, NAME=VALUE only that assignment.
  for (const { word } of list(unit, 'UnsetEnvironment').flatMap((v) => splitWords(spec(v)))) {
    const eq = word.indexOf('=');
    if (eq < 0) delete env[word];
    else if (env[word.slice(0, eq)] === word.slice(eq + 1)) delete env[word.slice(0, eq)];
  }
  return env;
}

class StartError extends Error {}

// --- the command ----------------------------------------------------------------------------------

function isMountPoint(root, p) {
  return spawnSync('mountpoint', ['-q', hostPath(root, p)]).status === 0;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

class Runner {
  constructor(root, stateDir) {
    this.root = root;
    this.stateDir = stateDir;
    fs.mkdirSync(stateDir, { recursive: true });
    this.messages = [];
  }

  say(message) {
    this.messages.push(message);
    process.stderr.write(`${message}\n`);
  }

  pidFile(name) {
    return path.join(this.stateDir, `${name}.pid`);
  }

  stateFile(name) {
    return path.join(this.stateDir, `${name}.state`);
  }

  pid(name) {
    try {
      const pid = Number(fs.readFileSync(this.pidFile(name), 'utf8').trim());
      return pid > 0 && alive(pid) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  state(name) {
    if (this.pid(name) !== undefined) return 'active';
    try {
      return fs.readFileSync(this.stateFile(name), 'utf8').trim() || 'inactive';
    } catch {
      return 'inactive';
    }
  }

  setState(name, state) {
    fs.writeFileSync(this.stateFile(name), `${state}\n`);
  }

  /** Runs one command to completion (ExecStartPre, oneshot ExecStart); returns its exit status. */
  runToCompletion(name, exec, env) {
    const log = fs.openSync(path.join(this.stateDir, `${name}.log`), 'a');
    try {
      const [command, ...args] = inRoot(this.root, exec.argv);
      const out = spawnSync(command, args, {
        env,
        stdio: ['ignore', log, log],
        timeout: 60_000,
        ...(exec.argv0 && !this.root ? { argv0: exec.argv0 } : {}),
      });
      return out.status ?? 1;
    } finally {
      fs.closeSync(log);
    }
  }

  start(name, depth = 0) {
    if (depth > 8) throw new StartError(`dependency loop at ${name}`);
    const unit = loadUnit(this.root, name);
    if (!unit) {
      this.say(`Failed to start ${name}: Unit ${name} not found.`);
      return 5;
    }
    if (this.state(name) === 'active') return 0;
    for (const wanted of list(unit, 'Wants', 'Unit').flatMap((v) => v.split(/\s+/))) {
      if (wanted && loadUnit(this.root, wanted)) this.start(wanted, depth + 1);
    }
    for (const required of list(unit, 'Requires', 'Unit').flatMap((v) => v.split(/\s+/))) {
      if (required && this.start(required, depth + 1) !== 0) {
        this.say(`A dependency job for ${name} failed. See 'journalctl -xe' for details.`);
        return 1;
      }
    }
    for (const raw of list(unit, 'ConditionPathIsMountPoint', 'Unit')) {
      const negate = raw.startsWith('!');
      const p = negate ? raw.slice(1) : raw;
      if (isMountPoint(this.root, p) === negate) {
        this.say(`${name}: condition ConditionPathIsMountPoint=${raw} was not met; start skipped.`);
        this.setState(name, 'inactive');
        return 0;
      }
    }
    for (const raw of list(unit, 'AssertPathIsMountPoint', 'Unit')) {
      const negate = raw.startsWith('!');
      const p = negate ? raw.slice(1) : raw;
      if (isMountPoint(this.root, p) === negate) {
        this.say(`Assertion failed on job for ${name}. (AssertPathIsMountPoint=${raw}: not met)`);
        this.setState(name, 'failed');
        return 1;
      }
    }
    for (const p of list(unit, 'RequiresMountsFor', 'Unit').flatMap((v) => v.split(/\s+/))) {
      if (p && !isMountPoint(this.root, p)) {
        this.say(
          `A dependency job for ${name} failed. See 'journalctl -xe' for details. (RequiresMountsFor=${p}: nothing mounted at ${hostPath(this.root, p)})`,
        );
        this.setState(name, 'failed');
        return 1;
      }
    }
    const env = unitEnvironment(this.root, unit);
    const spec = (v) => expandSpecifiers(v, name);
    for (const line of list(unit, 'ExecStartPre').map(spec)) {
      const exec = parseExecLine(line, env);
      const status = this.runToCompletion(name, exec, env);
      if (status !== 0 && !exec.ignoreFailure) {
        this.say(`Job for ${name} failed because the control process exited with error code.`);
        this.setState(name, 'failed');
        return 1;
      }
    }
    const starts = list(unit, 'ExecStart').map(spec);
    const oneshot = value(unit, 'Type') === 'oneshot' || ALWAYS_ONESHOT.has(name);
    if (oneshot) {
      for (const line of starts) {
        const exec = parseExecLine(line, env);
        const status = this.runToCompletion(name, exec, env);
        if (status !== 0 && !exec.ignoreFailure) {
          this.say(`Job for ${name} failed because the control process exited with error code.`);
          this.setState(name, 'failed');
          return 1;
        }
      }
      this.setState(
        name,
        /^(yes|true|1|on)$/i.test(value(unit, 'RemainAfterExit') ?? '') ? 'active' : 'inactive',
      );
      return 0;
    }
    if (starts.length !== 1) {
      this.say(
        `Failed to start ${name}: Unit ${name} has ${starts.length} ExecStart= lines (a service has one).`,
      );
      return 1;
    }
    const exec = parseExecLine(starts[0], env);
    const logPath = path.join(this.stateDir, `${name}.log`);
    const log = fs.openSync(logPath, 'a');
    const [command, ...args] = inRoot(this.root, exec.argv);
    const child = spawn(command, args, {
      env,
      cwd: '/',
      detached: true, // setsid: its own session and process group, not the caller's
      stdio: ['ignore', log, log],
      ...(exec.argv0 && !this.root ? { argv0: exec.argv0 } : {}),
    });
    fs.closeSync(log);
    let exited;
    child.on('exit', (code, signal) => (exited = { code, signal }));
    child.on('error', (error) => (exited = { code: 127, signal: null, error }));
    fs.writeFileSync(this.pidFile(name), `${child.pid ?? ''}\n`);
    this.setState(name, 'active');
    return new Promise((resolve) => {
      // A daemon that dies at once did not start (what Type=notify would have seen).
      setTimeout(
        () => {
          if (exited || child.pid === undefined) {
            this.say(
              `Job for ${name} failed because the control process exited with error code (${exited?.error?.message ?? `exit ${exited?.code ?? '?'}${exited?.signal ? `, ${exited.signal}` : ''}`}); see ${logPath}.`,
            );
            this.setState(name, 'failed');
            fs.rmSync(this.pidFile(name), { force: true });
            resolve(1);
          } else {
            child.unref();
            resolve(0);
          }
        },
        Number(process.env.BERTH_UNIT_SETTLE_MS || 400),
      );
    });
  }

  stop(name) {
    if (!loadUnit(this.root, name) && !fs.existsSync(this.pidFile(name))) {
      this.say(`Failed to stop ${name}: Unit ${name} not loaded.`);
      return 5;
    }
    const pid = this.pid(name);
    if (pid !== undefined) {
      const signal = (sig) => {
        try {
          process.kill(-pid, sig);
        } catch {
          try {
            process.kill(pid, sig);
          } catch {
            /* gone */
          }
        }
      };
      signal('SIGTERM');
      const deadline = Date.now() + 1000 * Number(process.env.BERTH_UNIT_STOP_SECONDS || 10);
      while (alive(pid) && Date.now() < deadline) sleep(50);
      if (alive(pid)) {
        signal('SIGKILL');
        for (let i = 0; i < 40 && alive(pid); i++) sleep(50);
      }
    }
    fs.rmSync(this.pidFile(name), { force: true });
    this.setState(name, 'inactive');
    return 0;
  }

  wantsLinks(name) {
    const unit = loadUnit(this.root, name);
    if (!unit) return undefined;
    const targets = list(unit, 'WantedBy', 'Install')
      .flatMap((v) => v.split(/\s+/))
      .filter(Boolean);
    return targets.map((t) => hostPath(this.root, `/etc/systemd/system/${t}.wants/${name}`));
  }

  enable(name) {
    const links = this.wantsLinks(name);
    if (!links) {
      this.say(`Failed to enable unit: Unit file ${name} does not exist.`);
      return 1;
    }
    const unitFile = loadUnit(this.root, name).files[0];
    for (const link of links) {
      fs.mkdirSync(path.dirname(link), { recursive: true });
      if (!fs.existsSync(link)) fs.symlinkSync(unitFile, link);
    }
    return 0;
  }

  disable(name) {
    for (const link of this.wantsLinks(name) ?? []) fs.rmSync(link, { force: true });
    return 0;
  }

  isEnabled(name) {
    const links = this.wantsLinks(name);
    const enabled = (links ?? []).some((l) => fs.existsSync(l));
    process.stdout.write(`${enabled ? 'enabled' : 'disabled'}\n`);
    return enabled ? 0 : 1;
  }
}

async function main(argv) {
  const root = (process.env.BERTH_HOST_ROOT || '').replace(/\/+$/, '');
  const stateDir = process.env.BERTH_UNIT_STATE_DIR || hostPath(root, '/run/unit-runner');
  const runner = new Runner(root, stateDir);
  const options = new Set(['-q', '--quiet', '--no-block', '--no-pager', '--now', '--no-ask-password']);
  const words = argv.filter((a) => a !== '--');
  const now = words.includes('--now');
  const [verb, ...units] = words.filter((a) => !options.has(a));
  let exit = 0;
  try {
    switch (verb) {
      case 'daemon-reload':
        break;
      case 'start':
        for (const u of units) exit = exit || (await runner.start(u));
        break;
      case 'stop':
        for (const u of units) exit = exit || runner.stop(u);
        break;
      case 'restart':
        for (const u of units) {
          runner.stop(u);
          exit = exit || (await runner.start(u));
        }
        break;
      case 'is-active':
        for (const u of units) {
          const s = runner.state(u);
          process.stdout.write(`${s}\n`);
          if (s !== 'active') exit = 3;
        }
        break;
      case 'is-enabled':
        for (const u of units) exit = exit || runner.isEnabled(u);
        break;
      case 'enable':
        for (const u of units) {
          exit = exit || runner.enable(u);
          if (now && exit === 0) exit = await runner.start(u);
        }
        break;
      case 'disable':
        for (const u of units) {
          exit = exit || runner.disable(u);
          if (now) runner.stop(u);
        }
        break;
      default:
        runner.say(`unit-runner: unknown command ${JSON.stringify(verb ?? '')}`);
        exit = 1;
    }
  } catch (error) {
    runner.say(error instanceof StartError ? error.message : `unit-runner: ${error.stack ?? error}`);
    exit = 1;
  }
  fs.appendFileSync(
    path.join(stateDir, 'calls.log'),
    `${JSON.stringify({ at: new Date().toISOString(), argv, exit, message: runner.messages.join(' | ') })}\n`,
  );
  return exit;
}

module.exports = {
  parseUnitText,
  foldEntries,
  splitWords,
  parseEnvironmentAssignments,
  parseEnvironmentFile,
  expandSpecifiers,
  parseExecLine,
  loadUnit,
  unitEnvironment,
};

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error) => {
      process.stderr.write(`unit-runner: ${error.stack ?? error}\n`);
      process.exit(1);
    },
  );
}
