import type { LocalCloud } from './index';
import { unknownOperation, type ServiceModel } from './transport';

/** Placeholder shell: filled in by the local-cloud work (issue 2). */
export class Ec2Model implements ServiceModel {
  constructor(readonly cloud: LocalCloud) {}

  handle(operation: string, _input: Record<string, unknown>): unknown {
    return unknownOperation('ec2', operation);
  }
}
