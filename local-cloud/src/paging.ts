import { fail } from './errors';

/**
 * MaxResults/NextToken pagination as AWS documents it: a token is opaque, valid only for the same
 * request, and the last page has no NextToken. `limits` are the service's documented bounds for
 * MaxResults (EC2 DescribeVolumes: 5–500; DescribeInstances: 5–1000; …).
 */
export function paginate<T>(
  items: readonly T[],
  maxResults: number | undefined,
  nextToken: string | undefined,
  limits: { min: number; max: number; parameter?: string } = { min: 5, max: 1000 },
): { page: T[]; nextToken?: string } {
  const parameter = limits.parameter ?? 'MaxResults';
  if (maxResults !== undefined && (maxResults < limits.min || maxResults > limits.max)) {
    throw fail(
      'InvalidParameterValue',
      `Value ( ${maxResults} ) for parameter ${parameter} is invalid. Expecting a value between ${limits.min} and ${limits.max}.`,
    );
  }
  let start = 0;
  if (nextToken !== undefined) {
    const decoded = decodeToken(nextToken);
    if (decoded === undefined) throw fail('InvalidNextToken', `The token '${nextToken}' is invalid.`);
    start = decoded;
  }
  const size = maxResults ?? items.length;
  const page = items.slice(start, start + size);
  const end = start + page.length;
  return end < items.length ? { page, nextToken: encodeToken(end) } : { page };
}

function encodeToken(offset: number): string {
  return Buffer.from(`local-cloud:${offset}`).toString('base64');
}

function decodeToken(token: string): number | undefined {
  const match = /^local-cloud:(\d+)$/.exec(Buffer.from(token, 'base64').toString('utf8'));
  return match?.[1] === undefined ? undefined : Number(match[1]);
}
