/**
 * Turns what happened in the local cloud into timeline lines: the AWS calls that change something
 * (from the cloud's call log) and what each host script reported (from its JSON line).
 */
import { basename } from 'node:path';
import { parseScriptResult } from '../../lambdas/shared/documents';
import type { LocalCloud } from '../../local-cloud/src';
import type { ExecRequest, ExecResult, HostExecutor } from '../../local-cloud/src/executors';
import type { CallRecord } from '../../local-cloud/src/transport';

/** A host run and its outcome. */
export interface HostRun {
  at: number;
  instanceId: string;
  script: string;
  parameters: Record<string, string>;
  exitCode: number;
  result: Record<string, unknown> | undefined;
  stderr: string;
}

/** Wraps an executor and keeps every run with its parsed JSON line. */
export class LoggingExecutor implements HostExecutor {
  readonly runs: HostRun[] = [];

  constructor(
    private readonly inner: HostExecutor,
    private readonly now: () => number,
  ) {}

  async run(request: ExecRequest): Promise<ExecResult> {
    const at = this.now();
    const out = await this.inner.run(request);
    this.runs.push({
      at,
      instanceId: request.instanceId,
      script: basename(request.scriptFile || request.documentName).replace(/\.sh$/, ''),
      parameters: request.parameters,
      exitCode: out.exitCode,
      result: parseScriptResult(out.stdout) as Record<string, unknown> | undefined,
      stderr: out.stderr,
    });
    return out;
  }
}

const s = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value));

function input(record: CallRecord): Record<string, unknown> {
  return (record.input ?? {}) as Record<string, unknown>;
}

/** One line for a call that changes something; undefined for reads and polls. */
export function describeCall(record: CallRecord): string | undefined {
  const i = input(record);
  const failed = record.error ? ` -> ${record.error}` : '';
  switch (`${record.service}:${record.operation}`) {
    case 'ec2:AttachVolume':
      return `EC2 AttachVolume ${s(i.VolumeId)} -> ${s(i.InstanceId)} as ${s(i.Device)}${failed}`;
    case 'ec2:DetachVolume':
      return `EC2 DetachVolume ${s(i.VolumeId)} from ${s(i.InstanceId ?? '')}${failed}`;
    case 'ec2:AttachNetworkInterface':
      return `EC2 AttachNetworkInterface ${s(i.NetworkInterfaceId)} -> ${s(i.InstanceId)} (device ${s(i.DeviceIndex)})${failed}`;
    case 'ec2:DetachNetworkInterface':
      return `EC2 DetachNetworkInterface ${s(i.AttachmentId)}${failed}`;
    case 'ec2:CreateVolume': {
      const tags = (
        (i.TagSpecifications as { Tags?: { Key?: string; Value?: string }[] }[] | undefined) ?? []
      )
        .flatMap((t) => t.Tags ?? [])
        .filter((t) => t.Key === 'NodeID' || t.Key === 'berth:ordinal')
        .map((t) => `${t.Key}=${t.Value}`)
        .join(' ');
      return `EC2 CreateVolume ${s(i.Size)} GiB ${s(i.VolumeType ?? '')} in ${s(i.AvailabilityZone)}${tags ? ` (${tags})` : ''}${failed}`;
    }
    case 'ec2:ModifyVolume':
      return `EC2 ModifyVolume ${s(i.VolumeId)} to ${s(i.Size)} GiB${failed}`;
    case 'ec2:DeleteVolume':
      return `EC2 DeleteVolume ${s(i.VolumeId)}${failed}`;
    case 'ssm:SendCommand':
      return `SSM SendCommand ${s(i.DocumentName)} on ${s((i.InstanceIds as string[] | undefined)?.join(','))}${failed}`;
    case 'autoscaling:CompleteLifecycleAction':
      return `AutoScaling CompleteLifecycleAction ${s(i.LifecycleHookName)} ${s(i.InstanceId ?? '')} ${s(i.LifecycleActionResult)}${failed}`;
    case 'autoscaling:RecordLifecycleActionHeartbeat':
      return undefined;
    case 'cloudwatch:PutMetricAlarm':
      return `CloudWatch PutMetricAlarm ${s(i.AlarmName)} (${s(i.MetricName)} > ${s(i.Threshold)})${failed}`;
    case 'cloudwatch:DeleteAlarms':
      return `CloudWatch DeleteAlarms ${s((i.AlarmNames as string[] | undefined)?.join(','))}${failed}`;
    case 'cloudwatch:SetAlarmState':
      return `CloudWatch SetAlarmState ${s(i.AlarmName)} ${s(i.StateValue)}${failed}`;
    default:
      return undefined;
  }
}

/** One line for a host script's outcome. */
export function describeRun(run: HostRun): string {
  const r = run.result ?? {};
  const mib = (bytes: unknown): string =>
    typeof bytes === 'number' ? `${Math.round(bytes / 1048576)} MiB` : '?';
  if (!r.ok) {
    return `host ${run.instanceId}: ${run.script} FAILED (exit ${run.exitCode}): ${s(r.error ?? run.stderr.trim().split('\n').slice(-1)[0] ?? '')}`;
  }
  switch (run.script) {
    case 'prepare-node':
      return `host ${run.instanceId}: prepare-node ${r.formatted ? `formatted ${s(r.filesystem)}, ` : ''}mounted ${s(r.mountPoint)} (${s(r.mount)}, ${mib(r.sizeBytes)}, ${(r.devices as unknown[] | undefined)?.length ?? '?'} device(s)), env file ${s(r.envFile)}`;
    case 'grow-filesystem':
      return `host ${run.instanceId}: grow-filesystem ${s(run.parameters.Mode)} ${s(run.parameters.VolumeId)}: ${Object.entries(
        r,
      )
        .filter(([k]) => !['ok', 'action'].includes(k))
        .map(([k, v]) => `${k}=${typeof v === 'number' && /Bytes$/.test(k) ? mib(v) : s(v)}`)
        .join(' ')}`;
    case 'quiesce-node':
      return `host ${run.instanceId}: quiesce-node unmounted ${s(run.parameters.MountPoint)} (${s(r.mount ?? r.unmount ?? 'ok')})`;
    default:
      return `host ${run.instanceId}: ${run.script} ok`;
  }
}

/** Reads the cloud's call log and the host runs from where the last call stopped. */
export class Narrator {
  private callIndex = 0;
  private runIndex = 0;

  constructor(
    private readonly cloud: LocalCloud,
    private readonly executor: LoggingExecutor,
  ) {
    cloud.accounting.keepLog = true;
  }

  /** Lines since the last call, in virtual time order: [virtual ms, text]. */
  take(): [number, string][] {
    const lines: [number, string][] = [];
    const log = this.cloud.accounting.log;
    for (; this.callIndex < log.length; this.callIndex++) {
      const record = log[this.callIndex];
      if (!record || record.error === 'HandlerKilled') continue;
      const text = describeCall(record);
      if (text) lines.push([record.at, text]);
    }
    for (; this.runIndex < this.executor.runs.length; this.runIndex++) {
      const run = this.executor.runs[this.runIndex];
      if (run) lines.push([run.at + 1, describeRun(run)]);
    }
    return lines.sort((a, b) => a[0] - b[0]);
  }
}
