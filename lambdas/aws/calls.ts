/** The tag-list helper and the lost-claim error every AWS-layer module uses. */
import type { Tag } from '@aws-sdk/client-ec2';

export function tagMap(tags: readonly Tag[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const tag of tags ?? []) if (tag.Key !== undefined) out[tag.Key] = tag.Value ?? '';
  return out;
}

/** Thrown when another instance holds the volume or interface: a lost claim race. */
export class ContestedError extends Error {
  constructor(
    message: string,
    readonly holder: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ContestedError';
  }
}
