import type {
  CancelCommandRequest,
  CreateDocumentRequest,
  DescribeDocumentRequest,
  DescribeInstanceInformationRequest,
  GetCommandInvocationRequest,
  GetDocumentRequest,
  ListCommandInvocationsRequest,
  ListCommandsRequest,
  SendCommandRequest,
} from '@aws-sdk/client-ssm';
import { readFileSync } from 'node:fs';
import { fail } from './errors';
import { RecordingExecutor, type ExecResult, type HostExecutor } from './executors';
import type { LocalCloud } from './index';
import { paginate } from './paging';
import { unknownOperation, type ServiceModel } from './transport';

/** What the SSM and Auto Scaling models use of the EC2 model (test/local-cloud/ec2.ts). */
export interface Ec2View {
  instance(id: string):
    | {
        instanceId: string;
        state: string;
        availabilityZone: string;
        subnetId?: string;
        privateIp?: string;
        launchTime?: Date | number | string;
      }
    | undefined;
  runInstance(options: {
    subnetId: string;
    instanceType?: string;
    tags?: Record<string, string>;
    privateIp?: string;
  }): string;
  terminateInstance(instanceId: string): void;
  instances?(): { instanceId: string }[];
  timing?: { instanceBootMs?: number };
}

export function ec2View(cloud: LocalCloud): Ec2View {
  return cloud.ec2 as unknown as Ec2View;
}

/** A parameter of a Command document. */
export interface DocumentParameter {
  allowedPattern?: string;
  default?: string;
  description?: string;
}

export interface DocumentOptions {
  /** Path of the script the document runs (an agent-scripts/*.sh file). */
  scriptFile: string;
  parameters?: Record<string, DocumentParameter>;
  /** aws:runShellScript `timeoutSeconds`: the execution timeout. @default 3600 */
  executionTimeoutSeconds?: number;
  /** The document's content as created (a synthesized template's); else one is made up. */
  content?: string;
}

interface Document {
  name: string;
  scriptFile: string;
  /** Shell of a document created through the API (no script file). */
  script?: string;
  parameters: Record<string, DocumentParameter>;
  executionTimeoutSeconds: number;
  content: string;
  created: number;
}

interface Invocation {
  commandId: string;
  instanceId: string;
  documentName: string;
  comment: string;
  requestedAt: number;
  /** GetCommandInvocation answers InvocationDoesNotExist before this (eventual consistency). */
  visibleAt: number;
  startAt: number;
  timeoutMs: number;
  result?: ExecResult;
  resolvedAt?: number;
  cancelledAt?: number;
  parameters: Record<string, string>;
}

/** One invocation as the command history shows it (the fault campaign's invariants read it). */
export interface InvocationRecord {
  commandId: string;
  instanceId: string;
  documentName: string;
  parameters: Record<string, string>;
  requestedAt: number;
  /** When the agent picked it up (after `Pending`). */
  startAt: number;
  /** When it reached its final status; undefined while Pending or InProgress. */
  endAt: number | undefined;
  status: InvocationStatus;
}

/** Faults of one instance's SSM agent (see `SsmModel.agentLate` and the others). */
interface AgentFault {
  lateMs: number;
  never: boolean;
  offline: { from: number; to: number }[];
}

interface Command {
  commandId: string;
  documentName: string;
  comment: string;
  parameters: Record<string, string[]>;
  instanceIds: string[];
  requestedAt: number;
  timeoutSeconds: number;
}

type InvocationStatus = 'Pending' | 'InProgress' | 'Success' | 'Failed' | 'TimedOut' | 'Cancelled';

/** SSM's StandardOutputContent/StandardErrorContent hold the first 24,000 characters. */
const OUTPUT_LIMIT = 24_000;
/** ListCommandInvocations' CommandPlugins[].Output holds the first 2,500 characters. */
const PLUGIN_OUTPUT_LIMIT = 2_500;

/**
 * SSM: Command documents, the agent's registration (DescribeInstanceInformation), Run Command
 * (SendCommand / GetCommandInvocation / ListCommandInvocations) and a pluggable host executor.
 *
 * Timing, all virtual and settled lazily from the clock:
 * - an instance's agent comes Online `agentOnlineDelayMs` after its EC2 instance is running;
 * - an invocation is Pending for `deliveryDelayMs`, then InProgress for the executor's duration;
 * - GetCommandInvocation answers InvocationDoesNotExist for `invocationVisibleDelayMs` after
 *   SendCommand (AWS documents this eventual consistency; default 0).
 * The executor is called at SendCommand time (a real script runs while virtual time stands still).
 */
export class SsmModel implements ServiceModel {
  agentOnlineDelayMs = 30_000;
  deliveryDelayMs = 0;
  invocationVisibleDelayMs = 0;
  executor: HostExecutor = new RecordingExecutor();
  private documents = new Map<string, Document>();
  /** Parameter Store (String parameters, standard tier): name → value and version. */
  private parameters = new Map<string, { value: string; version: number; modified: number }>();
  private commands = new Map<string, Command>();
  private invocations: Invocation[] = [];
  private launchedAt = new Map<string, number>();
  private commandSeq = 0;
  private agentFaults = new Map<string, AgentFault>();
  /** Runs in flight (tests can await them with `settled()`). */
  private inFlight = new Set<Promise<void>>();

  constructor(readonly cloud: LocalCloud) {}

  /** The recording executor, when it is the one plugged in. */
  get recorder(): RecordingExecutor {
    if (!(this.executor instanceof RecordingExecutor))
      throw new Error('the SSM executor is not a RecordingExecutor');
    return this.executor;
  }

  /** Registers a Command document that runs a script file. */
  registerDocument(name: string, options: DocumentOptions): void {
    const parameters = options.parameters ?? {};
    this.documents.set(name, {
      name,
      scriptFile: options.scriptFile,
      parameters,
      executionTimeoutSeconds: options.executionTimeoutSeconds ?? 3600,
      content:
        options.content ??
        JSON.stringify({
          schemaVersion: '2.2',
          description: `Runs ${options.scriptFile}`,
          parameters: Object.fromEntries(
            Object.entries(parameters).map(([k, p]) => [k, { type: 'String', ...p }]),
          ),
          mainSteps: [
            {
              action: 'aws:runShellScript',
              name: 'run',
              inputs: {
                interpolationType: 'ENV_VAR',
                timeoutSeconds: options.executionTimeoutSeconds ?? 3600,
                runCommand: [safeRead(options.scriptFile)],
              },
            },
          ],
        }),
      created: this.cloud.clock.now(),
    });
  }

  /**
   * Tells the model when an instance was launched (the Auto Scaling model does, for every instance
   * it launches), so that its agent comes online `instanceBootMs + agentOnlineDelayMs` later.
   * Instances nobody announced count from the first time this model sees them.
   */
  watch(instanceId: string, launchedAt = this.cloud.clock.now()): void {
    if (!this.launchedAt.has(instanceId)) this.launchedAt.set(instanceId, launchedAt);
  }

  // ---- agent faults (fault injection) -----------------------------------------------------------
  // Agents register late, lose their connection for minutes, or never register: instances whose
  // agent is not Online do not appear Online in DescribeInstanceInformation, and SendCommand answers
  // InvalidInstanceId for them ("Instances ... not in a valid state", SendCommand API reference,
  // InvalidInstanceId: "The SSM Agent is not registered ... or ... not running"). A command whose
  // agent goes offline while it is pending or running stays Pending/InProgress until the agent is
  // back (the agent reports the result when it reconnects).

  private agentFault(instanceId: string): AgentFault {
    let fault = this.agentFaults.get(instanceId);
    if (!fault) this.agentFaults.set(instanceId, (fault = { lateMs: 0, never: false, offline: [] }));
    return fault;
  }

  /** The instance's agent registers `delayMs` later than it would. */
  agentLate(instanceId: string, delayMs: number): void {
    this.agentFault(instanceId).lateMs += Math.max(0, delayMs);
  }

  /** The instance's agent never registers (a broken AMI, no route to the SSM endpoints). */
  agentNever(instanceId: string): void {
    this.agentFault(instanceId).never = true;
  }

  /** The instance's agent loses its connection from `fromMs` (epoch ms, virtual) for `durationMs`. */
  agentOffline(instanceId: string, fromMs: number, durationMs: number): void {
    this.agentFault(instanceId).offline.push({ from: fromMs, to: fromMs + Math.max(0, durationMs) });
  }

  /** The offline window of this instance's agent at `at`, if any. */
  private offlineAt(instanceId: string, at: number): { from: number; to: number } | undefined {
    return this.agentFaults.get(instanceId)?.offline.find((w) => w.from <= at && at < w.to);
  }

  /** Every invocation so far, with its status now (the campaign's command history). */
  commandHistory(): InvocationRecord[] {
    const now = this.cloud.clock.now();
    return this.invocations.map((inv) => {
      const { status, endAt } = this.status(inv, now);
      return {
        commandId: inv.commandId,
        instanceId: inv.instanceId,
        documentName: inv.documentName,
        parameters: inv.parameters,
        requestedAt: inv.requestedAt,
        startAt: inv.startAt,
        endAt,
        status,
      };
    });
  }

  /** Waits for every host run started so far (real scripts) to finish. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  /** When the instance's agent is (or will be) online; undefined for an unknown instance. */
  agentOnlineAt(instanceId: string): number | undefined {
    const ec2 = ec2View(this.cloud);
    const instance = ec2.instance(instanceId);
    if (!instance) return undefined;
    const now = this.cloud.clock.now();
    const bootMs = ec2.timing?.instanceBootMs ?? 0;
    if (instance.launchTime !== undefined) this.watch(instanceId, toMs(instance.launchTime));
    if (!this.launchedAt.has(instanceId)) {
      const launchTime = launchTimeOf(this.cloud, instanceId);
      if (launchTime !== undefined) this.watch(instanceId, launchTime);
    }
    if (!this.launchedAt.has(instanceId)) {
      // First sight: a pending instance launched about now; a running one has been running since now.
      this.launchedAt.set(instanceId, instance.state === 'pending' ? now : now - bootMs);
    }
    const fault = this.agentFaults.get(instanceId);
    if (fault?.never) return undefined;
    return (this.launchedAt.get(instanceId) ?? now) + bootMs + this.agentOnlineDelayMs + (fault?.lateMs ?? 0);
  }

  handle(operation: string, input: Record<string, unknown>): unknown {
    switch (operation) {
      case 'SendCommand':
        return this.sendCommand(input as unknown as SendCommandRequest);
      case 'GetCommandInvocation':
        return this.getCommandInvocation(input as unknown as GetCommandInvocationRequest);
      case 'ListCommandInvocations':
        return this.listCommandInvocations(input as unknown as ListCommandInvocationsRequest);
      case 'ListCommands':
        return this.listCommands(input as unknown as ListCommandsRequest);
      case 'CancelCommand':
        return this.cancelCommand(input as unknown as CancelCommandRequest);
      case 'DescribeInstanceInformation':
        return this.describeInstanceInformation(input as unknown as DescribeInstanceInformationRequest);
      case 'CreateDocument':
        return this.createDocument(input as unknown as CreateDocumentRequest);
      case 'DescribeDocument':
        return this.describeDocument(input as unknown as DescribeDocumentRequest);
      case 'GetDocument':
        return this.getDocument(input as unknown as GetDocumentRequest);
      case 'PutParameter':
        return this.putParameter(input);
      case 'GetParameter':
        return this.getParameter(input);
      default:
        return unknownOperation('ssm', operation);
    }
  }

  // ---- Parameter Store (String, standard tier) ---------------------------------------------------

  /**
   * PutParameter API reference: Name 1–2048 characters `[a-zA-Z0-9_.\-/]` ("aws"/"ssm" prefixes
   * reserved), Value at most 4 KB in the standard tier, an existing name needs `Overwrite`
   * (`ParameterAlreadyExists`). Only `String` parameters are modelled.
   */
  private putParameter(input: Record<string, unknown>): unknown {
    const name = String(input.Name ?? '');
    const value = input.Value;
    if (!/^[a-zA-Z0-9_.\-/]{1,2048}$/.test(name) || /^\/?(aws|ssm)/i.test(name)) {
      throw fail('ValidationException', `Parameter name ${JSON.stringify(name)} is not valid.`);
    }
    if (typeof value !== 'string' || value === '') {
      throw fail('ValidationException', 'Value must not be empty.');
    }
    if (Buffer.byteLength(value) > 4096) {
      throw fail(
        'ValidationException',
        'Standard tier parameters support a maximum parameter value of 4096 characters.',
      );
    }
    if ((input.Type ?? 'String') !== 'String') {
      throw fail('ValidationException', 'Only String parameters are modelled by the local cloud.');
    }
    const existing = this.parameters.get(name);
    if (existing && input.Overwrite !== true) {
      throw fail(
        'ParameterAlreadyExists',
        'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.',
      );
    }
    const version = (existing?.version ?? 0) + 1;
    this.parameters.set(name, { value, version, modified: this.cloud.clock.now() });
    return { Version: version, Tier: 'Standard' };
  }

  /** GetParameter API reference: `ParameterNotFound` for an unknown name. */
  private getParameter(input: Record<string, unknown>): unknown {
    const name = String(input.Name ?? '');
    const parameter = this.parameters.get(name);
    if (!parameter) throw fail('ParameterNotFound', '');
    return {
      Parameter: {
        Name: name,
        Type: 'String',
        Value: parameter.value,
        Version: parameter.version,
        LastModifiedDate: new Date(parameter.modified),
        ARN: `arn:aws:ssm:${this.cloud.region}:${this.cloud.account}:parameter/${name.replace(/^\//, '')}`,
        DataType: 'text',
      },
    };
  }

  // ---- agent ------------------------------------------------------------------------------------

  private pingStatus(instanceId: string): 'Online' | 'ConnectionLost' | undefined {
    const instance = ec2View(this.cloud).instance(instanceId);
    if (!instance || instance.state === 'terminated') return undefined;
    const online = this.agentOnlineAt(instanceId);
    if (instance.state === 'running') {
      if (online === undefined || online > this.cloud.clock.now()) return undefined;
      return this.offlineAt(instanceId, this.cloud.clock.now()) ? 'ConnectionLost' : 'Online';
    }
    // stopping/stopped/shutting-down: an agent that had registered has lost its connection
    return online !== undefined && online <= this.cloud.clock.now() ? 'ConnectionLost' : undefined;
  }

  private describeInstanceInformation(input: DescribeInstanceInformationRequest): unknown {
    if (input.Filters?.length && input.InstanceInformationFilterList?.length) {
      throw fail('InvalidFilter', 'Filters and InstanceInformationFilterList cannot be used together.');
    }
    if (input.MaxResults !== undefined && (input.MaxResults < 5 || input.MaxResults > 50)) {
      throw fail(
        'ValidationException',
        `1 validation error detected: Value '${input.MaxResults}' at 'maxResults' failed to satisfy constraint: Member must have value between 5 and 50`,
      );
    }
    const filters: { key: string; values: string[] }[] = [
      ...(input.Filters ?? []).map((f) => ({ key: f.Key ?? '', values: f.Values ?? [] })),
      ...(input.InstanceInformationFilterList ?? []).map((f) => ({
        key: f.key ?? '',
        values: f.valueSet ?? [],
      })),
    ];
    // With an InstanceIds filter, only those instances are looked at (not a view of every instance
    // of the run, on every call).
    const only = filters.find((f) => f.key === 'InstanceIds')?.values;
    const ec2 = ec2View(this.cloud);
    let ids =
      only && ec2.instances
        ? only.filter((id, i) => only.indexOf(id) === i && ec2.instance(id) !== undefined)
        : (ec2.instances?.().map((i) => i.instanceId) ?? [...this.launchedAt.keys()]);
    for (const filter of filters) {
      if (filter.key === 'InstanceIds') {
        ids = ids.filter((id) => filter.values.includes(id));
      } else if (!['PingStatus', 'PlatformTypes', 'ResourceType', 'AgentVersion'].includes(filter.key)) {
        throw fail('InvalidFilterKey', `The filter key ${filter.key} is not valid.`);
      }
    }
    const rows = [];
    for (const id of ids.sort()) {
      const status = this.pingStatus(id);
      if (!status) continue;
      const instance = ec2View(this.cloud).instance(id);
      const row = {
        InstanceId: id,
        PingStatus: status,
        LastPingDateTime: new Date(this.cloud.clock.now()),
        AgentVersion: '3.3.1142.0',
        IsLatestVersion: true,
        PlatformType: 'Linux',
        PlatformName: 'Amazon Linux',
        PlatformVersion: '2023',
        ResourceType: 'EC2Instance',
        IPAddress: instance?.privateIp,
        ComputerName: instance?.privateIp ? `ip-${instance.privateIp.replace(/\./g, '-')}.ec2.internal` : id,
      };
      const keep = filters.every((f) => {
        if (f.key === 'PingStatus') return f.values.includes(row.PingStatus);
        if (f.key === 'PlatformTypes') return f.values.includes(row.PlatformType);
        if (f.key === 'ResourceType') return f.values.includes(row.ResourceType);
        if (f.key === 'AgentVersion') return f.values.includes(row.AgentVersion);
        return true;
      });
      if (keep) rows.push(row);
    }
    const { page, nextToken } = paginate(rows, input.MaxResults, input.NextToken, { min: 5, max: 50 });
    return { InstanceInformationList: page, ...(nextToken ? { NextToken: nextToken } : {}) };
  }

  // ---- documents --------------------------------------------------------------------------------

  private createDocument(input: CreateDocumentRequest): unknown {
    const name = input.Name;
    if (!name || !/^[a-zA-Z0-9_\-.]{3,128}$/.test(name))
      throw fail('ValidationException', `Invalid document name ${String(name)}.`);
    if (name.startsWith('AWS-') || name.startsWith('aws-') || name.startsWith('amazon')) {
      throw fail('ValidationException', 'Document names cannot start with aws-, amazon or amzn.');
    }
    if (this.documents.has(name))
      throw fail('DocumentAlreadyExists', 'Document with same name already exists.');
    let content: {
      parameters?: Record<string, DocumentParameter & { type?: string }>;
      mainSteps?: { action?: string; inputs?: { runCommand?: string[]; timeoutSeconds?: number | string } }[];
    };
    try {
      content = JSON.parse(input.Content ?? '') as typeof content;
    } catch {
      throw fail(
        'InvalidDocumentContent',
        'The content for the document is not valid (only JSON is modelled).',
      );
    }
    const step = content.mainSteps?.[0];
    if (!step || step.action !== 'aws:runShellScript' || !Array.isArray(step.inputs?.runCommand)) {
      throw fail(
        'InvalidDocumentContent',
        'Only Command documents with an aws:runShellScript step are modelled.',
      );
    }
    this.documents.set(name, {
      name,
      scriptFile: '',
      script: step.inputs.runCommand.join('\n'),
      parameters: content.parameters ?? {},
      executionTimeoutSeconds: Number(step.inputs.timeoutSeconds ?? 3600),
      content: input.Content ?? '',
      created: this.cloud.clock.now(),
    });
    return { DocumentDescription: this.documentDescription(this.document(name)) };
  }

  private describeDocument(input: DescribeDocumentRequest): unknown {
    return { Document: this.documentDescription(this.document(input.Name)) };
  }

  private getDocument(input: GetDocumentRequest): unknown {
    const doc = this.document(input.Name);
    return {
      Name: doc.name,
      DocumentVersion: '1',
      Status: 'Active',
      Content: doc.content,
      DocumentType: 'Command',
      DocumentFormat: 'JSON',
    };
  }

  private document(name: string | undefined): Document {
    const doc = name === undefined ? undefined : this.documents.get(name);
    if (!doc) throw fail('InvalidDocument', `Document ${String(name)} does not exist in your account.`);
    return doc;
  }

  private documentDescription(doc: Document): unknown {
    return {
      Name: doc.name,
      DocumentVersion: '1',
      LatestVersion: '1',
      DefaultVersion: '1',
      Status: 'Active',
      DocumentType: 'Command',
      DocumentFormat: 'JSON',
      SchemaVersion: '2.2',
      CreatedDate: new Date(doc.created),
      PlatformTypes: ['Linux', 'MacOS'],
      Parameters: Object.entries(doc.parameters).map(([Name, p]) => ({
        Name,
        Type: 'String',
        ...(p.description ? { Description: p.description } : {}),
        ...(p.default !== undefined ? { DefaultValue: p.default } : {}),
      })),
    };
  }

  // ---- Run Command ------------------------------------------------------------------------------

  private sendCommand(input: SendCommandRequest): unknown {
    const doc = this.document(input.DocumentName);
    if (input.Targets?.length)
      throw fail('InvalidTarget', 'Targets are not modelled by the local cloud: use InstanceIds.');
    const instanceIds = input.InstanceIds ?? [];
    if (instanceIds.length === 0)
      throw fail('ValidationException', 'InstanceIds or Targets must be specified.');
    if (instanceIds.length > 50) throw fail('ValidationException', 'At most 50 InstanceIds are allowed.');
    if (new Set(instanceIds).size !== instanceIds.length)
      throw fail('DuplicateInstanceId', 'Instance Id duplicated.');
    const timeoutSeconds = input.TimeoutSeconds ?? 3600;
    if (timeoutSeconds < 30 || timeoutSeconds > 2_592_000) {
      throw fail(
        'ValidationException',
        `1 validation error detected: Value '${timeoutSeconds}' at 'timeoutSeconds' failed to satisfy constraint: Member must have value between 30 and 2592000`,
      );
    }
    const values = this.resolveParameters(doc, input.Parameters ?? {});
    const now = this.cloud.clock.now();
    const offline = instanceIds.filter((id) => this.pingStatus(id) !== 'Online');
    if (offline.length > 0) {
      // AWS answers this until the agent has registered (and for unknown or stopped instances).
      throw fail(
        'InvalidInstanceId',
        `Instances [[${offline.join(', ')}]] not in a valid state for account ${this.cloud.account}`,
      );
    }
    this.commandSeq++;
    const commandId = `${this.commandSeq.toString(16).padStart(8, '0')}-0000-4000-8000-${now.toString(16).padStart(12, '0').slice(-12)}`;
    const command: Command = {
      commandId,
      documentName: doc.name,
      comment: input.Comment ?? '',
      parameters: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, [v]])),
      instanceIds,
      requestedAt: now,
      timeoutSeconds,
    };
    this.commands.set(commandId, command);
    for (const instanceId of instanceIds) {
      const invocation: Invocation = {
        commandId,
        instanceId,
        documentName: doc.name,
        comment: command.comment,
        requestedAt: now,
        visibleAt: now + this.invocationVisibleDelayMs,
        startAt: now + this.deliveryDelayMs,
        timeoutMs: doc.executionTimeoutSeconds * 1000,
        parameters: values,
      };
      this.invocations.push(invocation);
      const run = this.executor
        .run({
          instanceId,
          documentName: doc.name,
          scriptFile: doc.scriptFile,
          ...(doc.script !== undefined ? { script: doc.script } : {}),
          parameters: values,
          timeoutSeconds: doc.executionTimeoutSeconds,
        })
        .then(
          (result) => {
            invocation.result = result;
            invocation.resolvedAt = this.cloud.clock.now();
          },
          (error: unknown) => {
            invocation.result = {
              exitCode: 1,
              stdout: '',
              stderr: `local cloud executor failed: ${String(error)}\n`,
            };
            invocation.resolvedAt = this.cloud.clock.now();
          },
        )
        .finally(() => this.inFlight.delete(run));
      this.inFlight.add(run);
    }
    // SendCommand answers before any invocation has been picked up.
    return { Command: { ...this.describeCommand(command), Status: 'Pending', StatusDetails: 'Pending' } };
  }

  /**
   * Validates parameters against the document (names, required ones, allowedPattern) and applies
   * defaults. SendCommand API reference, Errors: InvalidParameters, "You must specify values for
   * all required parameters in the Amazon Web Services Systems Manager document (SSM document).
   * You can only supply values to parameters defined in the SSM document." (HTTP 400).
   */
  private resolveParameters(doc: Document, given: Record<string, string[]>): Record<string, string> {
    const values: Record<string, string> = {};
    for (const [name, list] of Object.entries(given)) {
      const spec = doc.parameters[name];
      if (!spec)
        throw fail('InvalidParameters', `Parameter "${name}" is not defined in document ${doc.name}.`);
      if (list.length !== 1)
        throw fail('InvalidParameters', `Parameter "${name}" must have exactly one value.`);
      values[name] = list[0] ?? '';
    }
    for (const [name, spec] of Object.entries(doc.parameters)) {
      if (values[name] === undefined) {
        if (spec.default === undefined)
          throw fail('InvalidParameters', `Parameter "${name}" is required by document ${doc.name}.`);
        values[name] = spec.default;
      }
      const value = values[name] ?? '';
      // allowedPattern is a (Java) regular expression that the whole value must match.
      if (spec.allowedPattern !== undefined && !new RegExp(spec.allowedPattern).test(value)) {
        throw fail(
          'InvalidParameters',
          `Parameter "${name}" value "${value}" does not match the allowed pattern ${spec.allowedPattern}.`,
        );
      }
    }
    return values;
  }

  private status(
    inv: Invocation,
    now = this.cloud.clock.now(),
  ): { status: InvocationStatus; details: string; endAt?: number } {
    if (inv.cancelledAt !== undefined)
      return { status: 'Cancelled', details: 'Cancelled', endAt: inv.cancelledAt };
    if (now < inv.startAt) return { status: 'Pending', details: 'Pending' };
    if (!inv.result || inv.resolvedAt === undefined) {
      return { status: 'InProgress', details: 'InProgress' };
    }
    // An agent that lost its connection reports nothing until it is back: a result due within an
    // offline window arrives at the window's end.
    const window = this.agentFaults
      .get(inv.instanceId)
      ?.offline.find((w) => w.to > inv.startAt && w.from <= now);
    if (window) {
      const base = this.status({ ...inv, instanceId: '' }, now);
      if (base.endAt === undefined || base.endAt < window.from) return base;
      if (now < window.to) return { status: 'InProgress', details: 'InProgress' };
      return { ...base, endAt: Math.max(base.endAt, window.to) };
    }
    const duration = inv.result.durationMs ?? 0;
    if (inv.result.timedOut || duration > inv.timeoutMs) {
      const endAt = inv.result.timedOut ? Math.max(inv.resolvedAt, inv.startAt) : inv.startAt + inv.timeoutMs;
      return now < endAt
        ? { status: 'InProgress', details: 'InProgress' }
        : { status: 'TimedOut', details: 'ExecutionTimedOut', endAt };
    }
    const endAt = Math.max(inv.startAt + duration, inv.resolvedAt);
    if (now < endAt) return { status: 'InProgress', details: 'InProgress' };
    return inv.result.exitCode === 0
      ? { status: 'Success', details: 'Success', endAt }
      : { status: 'Failed', details: 'Failed', endAt };
  }

  private getCommandInvocation(input: GetCommandInvocationRequest): unknown {
    const now = this.cloud.clock.now();
    const inv = this.invocations.find(
      (i) => i.commandId === input.CommandId && i.instanceId === input.InstanceId,
    );
    if (!inv || now < inv.visibleAt) {
      throw fail(
        'InvocationDoesNotExist',
        "The command ID and instance ID you specified didn't match any invocations. Verify the command ID and the instance ID and try again.",
      );
    }
    if (input.PluginName !== undefined && input.PluginName !== 'run') {
      throw fail('InvalidPluginName', `The plugin name ${input.PluginName} is not valid.`);
    }
    const { status, details, endAt } = this.status(inv, now);
    const final = endAt !== undefined;
    const started = now >= inv.startAt;
    return {
      CommandId: inv.commandId,
      InstanceId: inv.instanceId,
      Comment: inv.comment,
      DocumentName: inv.documentName,
      DocumentVersion: '$DEFAULT',
      PluginName: 'run',
      ResponseCode: final && status !== 'Cancelled' ? this.responseCode(inv) : -1,
      ExecutionStartDateTime: started ? new Date(inv.startAt).toISOString() : '',
      ExecutionElapsedTime: started
        ? `PT${((Math.min(now, endAt ?? now) - inv.startAt) / 1000).toFixed(3)}S`
        : '',
      ExecutionEndDateTime: final ? new Date(endAt).toISOString() : '',
      Status: status,
      StatusDetails: details,
      StandardOutputContent:
        final && status !== 'Cancelled' ? (inv.result?.stdout ?? '').slice(0, OUTPUT_LIMIT) : '',
      StandardOutputUrl: '',
      StandardErrorContent:
        final && status !== 'Cancelled' ? (inv.result?.stderr ?? '').slice(0, OUTPUT_LIMIT) : '',
      StandardErrorUrl: '',
      CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
    };
  }

  private responseCode(inv: Invocation): number {
    if (!inv.result) return -1;
    if (inv.result.timedOut || (inv.result.durationMs ?? 0) > inv.timeoutMs) return -1;
    return inv.result.exitCode;
  }

  private listCommandInvocations(input: ListCommandInvocationsRequest): unknown {
    if (input.MaxResults !== undefined && (input.MaxResults < 1 || input.MaxResults > 50)) {
      throw fail(
        'ValidationException',
        `1 validation error detected: Value '${input.MaxResults}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 50`,
      );
    }
    if (input.CommandId !== undefined && !this.commands.has(input.CommandId)) {
      throw fail('InvalidCommandId', `Command ${input.CommandId} does not exist.`);
    }
    const now = this.cloud.clock.now();
    const filters = commandFilters(input.Filters);
    const rows = this.invocations
      .filter(
        (i) =>
          (input.CommandId === undefined || i.commandId === input.CommandId) &&
          (input.InstanceId === undefined || i.instanceId === input.InstanceId) &&
          (filters.DocumentName === undefined || i.documentName === filters.DocumentName) &&
          (filters.Status === undefined || this.status(i, now).status === filters.Status),
      )
      .filter((i) => now >= i.visibleAt)
      .sort((a, b) => b.requestedAt - a.requestedAt)
      .map((inv) => {
        const { status, details, endAt } = this.status(inv, now);
        const final = endAt !== undefined;
        return {
          CommandId: inv.commandId,
          InstanceId: inv.instanceId,
          InstanceName: '',
          Comment: inv.comment,
          DocumentName: inv.documentName,
          DocumentVersion: '$DEFAULT',
          RequestedDateTime: new Date(inv.requestedAt),
          Status: status,
          StatusDetails: details,
          TraceOutput: '',
          StandardOutputUrl: '',
          StandardErrorUrl: '',
          CommandPlugins: input.Details
            ? [
                {
                  Name: 'run',
                  Status: status,
                  StatusDetails: details,
                  ResponseCode: final && status !== 'Cancelled' ? this.responseCode(inv) : -1,
                  ...(now >= inv.startAt ? { ResponseStartDateTime: new Date(inv.startAt) } : {}),
                  ...(final ? { ResponseFinishDateTime: new Date(endAt) } : {}),
                  Output:
                    final && status !== 'Cancelled'
                      ? (inv.result?.stdout ?? '').slice(0, PLUGIN_OUTPUT_LIMIT)
                      : '',
                  StandardOutputUrl: '',
                  StandardErrorUrl: '',
                  OutputS3Region: this.cloud.region,
                  OutputS3BucketName: '',
                  OutputS3KeyPrefix: '',
                },
              ]
            : [],
          ServiceRole: '',
          NotificationConfig: { NotificationArn: '', NotificationEvents: [], NotificationType: '' },
          CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
        };
      });
    const { page, nextToken } = paginate(rows, input.MaxResults, input.NextToken, { min: 1, max: 50 });
    return { CommandInvocations: page, ...(nextToken ? { NextToken: nextToken } : {}) };
  }

  private listCommands(input: ListCommandsRequest): unknown {
    if (input.CommandId !== undefined && !this.commands.has(input.CommandId)) {
      throw fail('InvalidCommandId', `Command ${input.CommandId} does not exist.`);
    }
    const rows = [...this.commands.values()]
      .filter(
        (c) =>
          (input.CommandId === undefined || c.commandId === input.CommandId) &&
          (input.InstanceId === undefined || c.instanceIds.includes(input.InstanceId)),
      )
      .sort((a, b) => b.requestedAt - a.requestedAt)
      .map((c) => this.describeCommand(c));
    const { page, nextToken } = paginate(rows, input.MaxResults, input.NextToken, { min: 1, max: 50 });
    return { Commands: page, ...(nextToken ? { NextToken: nextToken } : {}) };
  }

  private cancelCommand(input: CancelCommandRequest): unknown {
    const command = input.CommandId === undefined ? undefined : this.commands.get(input.CommandId);
    if (!command) throw fail('InvalidCommandId', `Command ${String(input.CommandId)} does not exist.`);
    const now = this.cloud.clock.now();
    for (const inv of this.invocations) {
      if (inv.commandId !== command.commandId) continue;
      if (input.InstanceIds?.length && !input.InstanceIds.includes(inv.instanceId)) continue;
      if (this.status(inv, now).endAt === undefined) inv.cancelledAt = now;
    }
    return {};
  }

  private describeCommand(c: Command): Record<string, unknown> {
    const invs = this.invocations.filter((i) => i.commandId === c.commandId);
    const statuses = invs.map((i) => this.status(i).status);
    const done = statuses.filter((s) => s !== 'Pending' && s !== 'InProgress');
    const errors = statuses.filter((s) => s === 'Failed' || s === 'TimedOut');
    const status =
      done.length < statuses.length
        ? statuses.includes('InProgress')
          ? 'InProgress'
          : 'Pending'
        : statuses.every((s) => s === 'Success')
          ? 'Success'
          : statuses.includes('Cancelled') && errors.length === 0
            ? 'Cancelled'
            : statuses.includes('TimedOut')
              ? 'TimedOut'
              : 'Failed';
    return {
      CommandId: c.commandId,
      DocumentName: c.documentName,
      DocumentVersion: '$DEFAULT',
      Comment: c.comment,
      ExpiresAfter: new Date(c.requestedAt + c.timeoutSeconds * 1000),
      Parameters: c.parameters,
      InstanceIds: c.instanceIds,
      Targets: [],
      RequestedDateTime: new Date(c.requestedAt),
      Status: status,
      StatusDetails: status,
      TargetCount: c.instanceIds.length,
      CompletedCount: done.length,
      ErrorCount: errors.length,
      DeliveryTimedOutCount: 0,
      MaxConcurrency: '50',
      MaxErrors: '0',
      TimeoutSeconds: c.timeoutSeconds,
      ServiceRole: '',
      NotificationConfig: { NotificationArn: '', NotificationEvents: [], NotificationType: '' },
      CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
    };
  }
}

/** The instance's LaunchTime as DescribeInstances reports it (asked of the model, not counted). */
function launchTimeOf(cloud: LocalCloud, instanceId: string): number | undefined {
  try {
    const out = cloud.ec2.handle('DescribeInstances', { InstanceIds: [instanceId] }) as {
      Reservations?: { Instances?: { InstanceId?: string; LaunchTime?: Date | string | number }[] }[];
    };
    const found = out.Reservations?.flatMap((r) => r.Instances ?? []).find(
      (i) => i.InstanceId === instanceId,
    );
    return found?.LaunchTime === undefined ? undefined : toMs(found.LaunchTime);
  } catch {
    return undefined;
  }
}

/**
 * ListCommands / ListCommandInvocations `Filters` (API reference, CommandFilter): keys
 * InvokedAfter, InvokedBefore, Status, ExecutionStage, DocumentName, one value each. The model
 * reads DocumentName and Status; the other valid keys are refused as not modelled, and an unknown
 * key as AWS does (InvalidFilterKey).
 */
function commandFilters(filters: { key?: string; value?: string }[] | undefined): {
  DocumentName?: string;
  Status?: string;
} {
  const out: { DocumentName?: string; Status?: string } = {};
  for (const filter of filters ?? []) {
    if (filter.key === 'DocumentName' || filter.key === 'Status') {
      if (!filter.value) throw fail('InvalidFilterValue', `The filter value for ${filter.key} is empty.`);
      out[filter.key] = filter.value;
    } else if (['InvokedAfter', 'InvokedBefore', 'ExecutionStage'].includes(filter.key ?? '')) {
      throw fail('InvalidFilterKey', `Filter key ${String(filter.key)} is not modelled by the local cloud.`);
    } else {
      throw fail('InvalidFilterKey', `Filter key ${String(filter.key)} is not valid.`);
    }
  }
  return out;
}

function toMs(value: Date | number | string): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return Date.parse(value);
  return value.getTime();
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return `# ${file}`;
  }
}
