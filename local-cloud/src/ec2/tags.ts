/** Tags of volumes, instances and network interfaces. */
import type { CreateTagsRequest, DeleteTagsRequest, Tag, TagSpecification } from '@aws-sdk/client-ec2';
import { fail } from '../errors';
import type { Ec2State } from './state';

/**
 * CreateTags / DeleteTags (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateTags.html):
 * keys up to 128 characters, values up to 256, "Tag keys can't start with aws:", at most 50 tags
 * per resource (TagLimitExceeded). Every resource is checked before any is changed.
 */
export function createTags(s: Ec2State, input: Partial<CreateTagsRequest>): Record<string, never> {
  const resources = input.Resources ?? [];
  if (resources.length === 0)
    throw fail('MissingParameter', 'The request must contain the parameter resourceIdSet');
  const tags = input.Tags ?? [];
  if (tags.length === 0) throw fail('MissingParameter', 'The request must contain the parameter tagSet');
  for (const tag of tags) checkTag(tag);
  const maps = resources.map((id) => tagsOf(s, id));
  for (const [index, map] of maps.entries()) {
    const keys = new Set([...map.keys(), ...tags.map((t) => t.Key ?? '')]);
    if (keys.size > 50)
      throw fail(
        'TagLimitExceeded',
        `The maximum number of tags (50) for resource '${resources[index] ?? ''}' has been reached.`,
      );
  }
  for (const map of maps) for (const tag of tags) map.set(tag.Key ?? '', tag.Value ?? '');
  return {};
}

/**
 * DeleteTags: a tag with a Value is deleted only if the value matches ("If you specify a tag key
 * with an empty string as the tag value, we delete the tag only if its value is an empty
 * string"); without Tags every tag of the resource goes (except aws: tags).
 */
export function deleteTags(s: Ec2State, input: Partial<DeleteTagsRequest>): Record<string, never> {
  const resources = input.Resources ?? [];
  if (resources.length === 0)
    throw fail('MissingParameter', 'The request must contain the parameter resourceIdSet');
  for (const tag of input.Tags ?? []) {
    if ((tag.Key ?? '').startsWith('aws:')) {
      throw fail(
        'InvalidParameterValue',
        `Value (${tag.Key ?? ''}) for parameter key is invalid. Tag keys starting with 'aws:' are reserved for internal use`,
      );
    }
  }
  const maps = resources.map((id) => tagsOf(s, id));
  for (const map of maps) {
    // The EC2 query protocol sends nothing for an empty list (@aws-sdk/core's Ec2QueryProtocol
    // has serializeEmptyLists: false): `Tags: []` reaches AWS as no Tags at all, which deletes
    // every user tag.
    if (!input.Tags || input.Tags.length === 0) {
      for (const key of [...map.keys()]) if (!key.startsWith('aws:')) map.delete(key);
      continue;
    }
    for (const tag of input.Tags) {
      const key = tag.Key ?? '';
      if (tag.Value === undefined || map.get(key) === tag.Value) map.delete(key);
    }
  }
  return {};
}

export function tagsOf(s: Ec2State, id: string): Map<string, string> {
  if (id.startsWith('vol-')) return s.requireVolume(id).tags;
  if (id.startsWith('i-')) return s.requireInstance(id).tags;
  if (id.startsWith('eni-')) return s.requireEni(id).tags;
  throw fail('InvalidID', `The ID '${id}' is not valid`);
}

/** TagSpecifications of a create call: only the resource type the call creates is allowed. */
export function tagsFromSpecifications(
  specs: readonly TagSpecification[] | undefined,
  resourceType: string,
): Map<string, string> {
  const tags = new Map<string, string>();
  for (const spec of specs ?? []) {
    if (spec.ResourceType !== resourceType) {
      throw fail(
        'InvalidParameterValue',
        `'${String(spec.ResourceType)}' is not a valid taggable resource type for this operation.`,
      );
    }
    for (const tag of spec.Tags ?? []) {
      checkTag(tag);
      tags.set(tag.Key ?? '', tag.Value ?? '');
    }
  }
  if (tags.size > 50) throw fail('TagLimitExceeded', 'The maximum number of tags (50) has been exceeded.');
  return tags;
}

export function checkTag(tag: Tag): void {
  const key = tag.Key;
  if (key === undefined || key === '') throw fail('InvalidParameterValue', 'Tag key cannot be empty');
  if (key.startsWith('aws:')) {
    throw fail(
      'InvalidParameterValue',
      `Value (${key}) for parameter key is invalid. Tag keys starting with 'aws:' are reserved for internal use`,
    );
  }
  if (key.length > 128)
    throw fail('InvalidParameterValue', `Tag key exceeds the maximum length of 128 characters`);
  if ((tag.Value ?? '').length > 256)
    throw fail('InvalidParameterValue', `Tag value exceeds the maximum length of 256 characters`);
}

export function tagList(tags: ReadonlyMap<string, string>): Tag[] {
  return [...tags].map(([Key, Value]) => ({ Key, Value }));
}
