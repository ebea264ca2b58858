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
import { RecordingExecutor, type HostExecutor } from '../executors';
import type { LocalCloud } from '../index';
import { unknownOperation, type ServiceModel } from '../transport';
import * as agents from './agents';
import * as commands from './commands';
import * as documents from './documents';
import * as parameters from './parameters';
import type { DocumentOptions, InvocationRecord } from './records';
import { SsmState, type SsmSettings } from './state';

export { ec2View } from './records';
export type { DocumentOptions, DocumentParameter, Ec2View, InvocationRecord } from './records';

/**
 * SSM: Command documents, the agent's registration (DescribeInstanceInformation), Run Command
 * (SendCommand / GetCommandInvocation / ListCommandInvocations) and a pluggable host executor.
 *
 * Timing, all virtual and settled lazily from the clock:
 * - an instance's agent comes Online `agentOnlineDelayMs` after its EC2 instance is running;
 * - an invocation is Pending for `deliveryDelayMs`, then InProgress for the executor's duration;
 * - GetCommandInvocation answers InvocationDoesNotExist for `invocationVisibleDelayMs` after
 *   SendCommand (AWS documents this eventual consistency; default 0).
 * The executor is called at SendCommand time (a real script runs while virtual time stands still),
 * except that the runs of agent scripts on one instance take turns as their host lock makes them
 * (`hostLockWaitMs`, commands.ts).
 */
//
// Layout: this file is the façade (the public methods and the dispatch) over SsmState; `agents.ts`
// (registration, faults, DescribeInstanceInformation), `documents.ts` (documents and parameter
// validation), `commands.ts` (Run Command), `parameters.ts` (Parameter Store), `records.ts`.
export class SsmModel implements ServiceModel, SsmSettings {
  agentOnlineDelayMs = 30_000;
  deliveryDelayMs = 0;
  invocationVisibleDelayMs = 0;
  /** How long an agent script waits for its host's lock (the scripts' BERTH_LOCK_WAIT_SECONDS). */
  hostLockWaitMs = 300_000;
  executor: HostExecutor = new RecordingExecutor();
  private readonly state: SsmState;

  constructor(readonly cloud: LocalCloud) {
    this.state = new SsmState(cloud, this);
  }

  /** The recording executor, when it is the one plugged in. */
  get recorder(): RecordingExecutor {
    if (!(this.executor instanceof RecordingExecutor))
      throw new Error('the SSM executor is not a RecordingExecutor');
    return this.executor;
  }

  /** Registers a Command document that runs a script file. */
  registerDocument(name: string, options: DocumentOptions): void {
    documents.registerDocument(this.state, name, options);
  }

  /**
   * Tells the model when an instance was launched (the Auto Scaling model does, for every instance
   * it launches), so that its agent comes online `instanceBootMs + agentOnlineDelayMs` later.
   * Instances nobody announced count from the first time this model sees them.
   */
  watch(instanceId: string, launchedAt = this.cloud.clock.now()): void {
    agents.watch(this.state, instanceId, launchedAt);
  }

  // ---- agent faults (fault injection): see agents.ts ---------------------------------------------

  /** The instance's agent registers `delayMs` later than it would. */
  agentLate(instanceId: string, delayMs: number): void {
    agents.agentLate(this.state, instanceId, delayMs);
  }

  /** The instance's agent never registers (a broken AMI, no route to the SSM endpoints). */
  agentNever(instanceId: string): void {
    agents.agentNever(this.state, instanceId);
  }

  /** The instance's agent loses its connection from `fromMs` (epoch ms, virtual) for `durationMs`. */
  agentOffline(instanceId: string, fromMs: number, durationMs: number): void {
    agents.agentOffline(this.state, instanceId, fromMs, durationMs);
  }

  /** Every invocation so far, with its status now (the campaign's command history). */
  commandHistory(): InvocationRecord[] {
    return commands.commandHistory(this.state);
  }

  /** Waits for every host run started so far (real scripts) to finish. */
  async settled(): Promise<void> {
    while (this.state.inFlight.size > 0) await Promise.all([...this.state.inFlight]);
  }

  /** When the instance's agent is (or will be) online; undefined for an unknown instance. */
  agentOnlineAt(instanceId: string): number | undefined {
    return agents.agentOnlineAt(this.state, instanceId);
  }

  /** Parameter names (tests: which parameters exist). */
  parameterNames(): string[] {
    return [...this.state.parameters.keys()].sort();
  }

  handle(operation: string, input: Record<string, unknown>): unknown {
    const ssm = this.state;
    switch (operation) {
      case 'SendCommand':
        return commands.sendCommand(ssm, input as unknown as SendCommandRequest);
      case 'GetCommandInvocation':
        return commands.getCommandInvocation(ssm, input as unknown as GetCommandInvocationRequest);
      case 'ListCommandInvocations':
        return commands.listCommandInvocations(ssm, input as unknown as ListCommandInvocationsRequest);
      case 'ListCommands':
        return commands.listCommands(ssm, input as unknown as ListCommandsRequest);
      case 'CancelCommand':
        return commands.cancelCommand(ssm, input as unknown as CancelCommandRequest);
      case 'DescribeInstanceInformation':
        return agents.describeInstanceInformation(
          ssm,
          input as unknown as DescribeInstanceInformationRequest,
        );
      case 'CreateDocument':
        return documents.createDocument(ssm, input as unknown as CreateDocumentRequest);
      case 'DescribeDocument':
        return documents.describeDocument(ssm, input as unknown as DescribeDocumentRequest);
      case 'GetDocument':
        return documents.getDocument(ssm, input as unknown as GetDocumentRequest);
      case 'PutParameter':
        return parameters.putParameter(ssm, input);
      case 'GetParameter':
        return parameters.getParameter(ssm, input);
      case 'DeleteParameter':
        return parameters.deleteParameter(ssm, input);
      default:
        return unknownOperation('ssm', operation);
    }
  }
}
