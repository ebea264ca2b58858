/**
 * The `berth` command for operators (`npx berth status --group NAME [--region R]`). It uses the
 * default AWS credentials chain and region resolution of the SDK, as the handlers do, and reads
 * the group's settings from the SSM parameter the construct writes (`/berth/<group>/settings`,
 * the JSON the functions receive), so that filters and tag keys are the deployed ones. `--filters`
 * stands in for a group deployed without that parameter; `--parameter` names it for a group whose
 * name was a deploy-time token.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { parseArgs } from 'node:util';
import { createClients, MAX_ATTEMPTS, type AwsClients } from '../aws/clients';
import { readParameter } from '../aws/parameters';
import { systemClock, type Clock } from '../shared/clock';
import { ConfigError, resolveSettings, type GroupSettingsInput, type Settings } from '../shared/config';
import { describeError } from '../shared/errors';
import { settingsParameterName } from '../shared/settings-parameter';
import { formatStatus, groupStatus } from './status';

export type CliClients = Pick<AwsClients, 'ec2' | 'autoScaling' | 'ssm'>;

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** The SDK clients for a region (undefined: the SDK's default region chain). */
  clients: (region: string | undefined) => CliClients;
  clock: Clock;
}

export const USAGE = `usage: berth status --group NAME [--region REGION] [--parameter NAME] [--filters K=V,…] [--json]

  status   lists the group's node sets and their holders, spares, half-attached and bad sets
           (with the reason) and grows in flight.

  --group NAME       the Auto Scaling group berth manages
  --region REGION    default: the SDK's region chain (AWS_REGION, the profile)
  --parameter NAME   the SSM parameter with the group's settings (default /berth/<group>/settings,
                     written by the StatefulNodeGroup construct)
  --filters K=V,…    the group's filters, for a group deployed without the settings parameter
                     (other settings take their defaults)
  --json             the report as JSON
`;

function defaultClients(region: string | undefined): CliClients {
  // The CLI only reads: every service may retry with the SDK's standard mode (SSM included).
  return createClients({ maxAttempts: MAX_ATTEMPTS, ...(region ? { region } : {}) });
}

class UsageError extends Error {}

/** The group's settings: from the construct's parameter, or from `--filters`. */
export async function loadSettings(
  ssm: CliClients['ssm'],
  group: string,
  options: { parameter?: string; filters?: string },
): Promise<Settings> {
  if (options.filters !== undefined) return resolveSettings({ groupName: group, filters: options.filters });
  const name = options.parameter ?? settingsParameterName(group);
  const value = await readParameter(ssm, name);
  if (value === undefined) {
    throw new UsageError(
      `--group ${group}: no settings parameter ${name}; deploy the group's StatefulNodeGroup (it writes it), name it with --parameter, or pass --filters K=V,…`,
    );
  }
  let input: GroupSettingsInput;
  try {
    input = JSON.parse(value) as GroupSettingsInput;
  } catch {
    throw new UsageError(
      `${name}: not the JSON of berth settings; name the right parameter with --parameter`,
    );
  }
  const settings = resolveSettings(input);
  if (settings.groupName !== group) {
    throw new UsageError(
      `${name} holds the settings of group ${settings.groupName}, not ${group}; name the right parameter with --parameter`,
    );
  }
  return settings;
}

/** Runs the command; returns the exit code (0 done, 1 failed, 2 bad usage). */
export async function main(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const out = io.stdout ?? ((t: string) => process.stdout.write(t));
  const err = io.stderr ?? ((t: string) => process.stderr.write(t));
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        group: { type: 'string' },
        region: { type: 'string' },
        parameter: { type: 'string' },
        filters: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    err(`berth: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out(USAGE);
    return 0;
  }
  const [command, ...extra] = positionals;
  if (command !== 'status' || extra.length > 0) {
    err(`berth: unknown command ${JSON.stringify([command, ...extra].filter(Boolean).join(' '))}\n${USAGE}`);
    return 2;
  }
  if (!values.group) {
    err(`berth status: --group is required (the Auto Scaling group's name)\n${USAGE}`);
    return 2;
  }
  const clients = (io.clients ?? defaultClients)(values.region);
  try {
    const settings = await loadSettings(clients.ssm, values.group, {
      ...(values.parameter !== undefined ? { parameter: values.parameter } : {}),
      ...(values.filters !== undefined ? { filters: values.filters } : {}),
    });
    const report = await groupStatus({
      ec2: clients.ec2,
      autoScaling: clients.autoScaling,
      settings,
      clock: io.clock ?? systemClock,
      logger: new Logger({ serviceName: 'berth-status', logLevel: 'SILENT' }),
    });
    out(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
    return 0;
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError) {
      err(`berth status: ${error.message}\n`);
      return 2;
    }
    const { name, message } = describeError(error);
    err(`berth status: ${name}: ${message}\n`);
    return 1;
  }
}
