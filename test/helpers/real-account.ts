/**
 * Makes a local cloud judge like the real account a group is deployed to: each function's role
 * and the node role get the identity policy `cdk synth` produces for them, and the SSM documents
 * are registered with the content of the synthesized template (names, parameters, allowedPattern,
 * defaults, timeout), running the assembled agent script their embedded text is (checked).
 */
import type { Settings } from '../../lambdas/shared/config';
import { SCRIPTS, type ScriptKey } from '../../lambdas/shared/documents';
import type { LocalCloud } from '../../local-cloud/src';
import { assembledScriptPath, assembledText } from './assembled-scripts';
import { synthesizedGroup, type GroupProps, type RoleName, type SynthesizedGroup } from './synthesized';

/** The principal name of each synthesized role in the cloud's authorizer. */
export const ROLES: readonly RoleName[] = ['launch', 'terminate', 'grow', 'reconcile', 'node'];

/** Loads the synthesized policies and documents of `settings`' group into `cloud`. */
export function asDeployed(cloud: LocalCloud, settings: Settings, props: GroupProps = {}): SynthesizedGroup {
  const group = synthesizedGroup(settings, { account: cloud.account, region: cloud.region }, props);
  for (const name of ROLES) {
    const role = group.roles[name];
    if (!role) continue; // grow has no function without growth
    cloud.authorizer.setPrincipal(name, {
      roleName: `BerthPolicies-${role.logicalId}`,
      sessionName: name === 'node' ? 'i-host' : `berth-${name}`,
      statements: role.statements,
    });
  }
  registerDocuments(cloud, settings, group);
  return group;
}

/** Registers the Command documents exactly as synthesized; checks each embeds its assembled script. */
function registerDocuments(cloud: LocalCloud, settings: Settings, group: SynthesizedGroup): void {
  for (const [key, file] of Object.entries(SCRIPTS) as [ScriptKey, string][]) {
    const name = settings.documents[key];
    const doc = group.documents.find((d) => d.name === name && d.documentType === 'Command');
    if (!doc) throw new Error(`the synthesized template has no Command document ${name}`);
    const step = doc.content.mainSteps[0];
    const embedded = (step?.inputs.runCommand as string[] | undefined)?.join('\n');
    if (embedded !== assembledText(key))
      throw new Error(`document ${name} does not embed the assembled agent-scripts/${file} byte for byte`);
    const scriptFile = assembledScriptPath(file);
    cloud.ssm.registerDocument(name, {
      scriptFile,
      parameters: doc.content.parameters ?? {},
      executionTimeoutSeconds: Number(step?.inputs.timeoutSeconds ?? 3600),
      content: JSON.stringify(doc.content),
    });
  }
}
