/** SSM Parameter Store reads (the CLI reads the settings parameter the construct writes). */
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import type { AwsClients } from './clients';
import { errorName } from '../shared/errors';

/** The parameter's value; `undefined` when the parameter does not exist. */
export async function readParameter(ssm: AwsClients['ssm'], name: string): Promise<string | undefined> {
  try {
    return (await ssm.send(new GetParameterCommand({ Name: name }))).Parameter?.Value ?? '';
  } catch (error) {
    if (errorName(error) === 'ParameterNotFound') return undefined;
    throw error;
  }
}
