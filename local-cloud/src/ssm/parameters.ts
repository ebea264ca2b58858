/** Parameter Store (String parameters, standard tier). */
import { fail } from '../errors';
import type { SsmState } from './state';

/**
 * PutParameter API reference: Name 1–2048 characters `[a-zA-Z0-9_.\-/]` ("aws"/"ssm" prefixes
 * reserved), Value at most 4 KB in the standard tier, an existing name needs `Overwrite`
 * (`ParameterAlreadyExists`). Only `String` parameters are modelled.
 */
export function putParameter(ssm: SsmState, input: Record<string, unknown>): unknown {
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
  const existing = ssm.parameters.get(name);
  if (existing && input.Overwrite !== true) {
    throw fail(
      'ParameterAlreadyExists',
      'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.',
    );
  }
  const version = (existing?.version ?? 0) + 1;
  ssm.parameters.set(name, { value, version, modified: ssm.cloud.clock.now() });
  return { Version: version, Tier: 'Standard' };
}

/** GetParameter API reference: `ParameterNotFound` for an unknown name. */
export function getParameter(ssm: SsmState, input: Record<string, unknown>): unknown {
  const name = String(input.Name ?? '');
  const parameter = ssm.parameters.get(name);
  if (!parameter) throw fail('ParameterNotFound', '');
  return {
    Parameter: {
      Name: name,
      Type: 'String',
      Value: parameter.value,
      Version: parameter.version,
      LastModifiedDate: new Date(parameter.modified),
      ARN: `arn:aws:ssm:${ssm.cloud.region}:${ssm.cloud.account}:parameter/${name.replace(/^\//, '')}`,
      DataType: 'text',
    },
  };
}

/**
 * DeleteParameter API reference: deletes the parameter (all its versions); `ParameterNotFound`
 * for an unknown name. A parameter created again under the name starts at version 1.
 */
export function deleteParameter(ssm: SsmState, input: Record<string, unknown>): unknown {
  const name = String(input.Name ?? '');
  if (!ssm.parameters.delete(name)) throw fail('ParameterNotFound', '');
  return {};
}
