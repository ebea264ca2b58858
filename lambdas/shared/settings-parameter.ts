/**
 * Where a group's settings are published for operators' tools (the `berth status` command): an SSM
 * String parameter the construct writes with the same JSON the functions receive in BERTH_SETTINGS.
 * The name is derived from the group's name here, once, for the infra and the command.
 */

/** A name fit for SSM documents, parameters and dashboards: the group name with odd characters replaced. */
export function safeName(groupName: string): string {
  return groupName.replace(/[^A-Za-z0-9_.-]/g, '-');
}

/** `/berth/<group>/settings` (the group's name made safe, at most 80 characters of it). */
export function settingsParameterName(groupStem: string): string {
  return `/berth/${safeName(groupStem).slice(0, 80)}/settings`;
}
