/** Command documents: registration, CreateDocument/DescribeDocument/GetDocument, parameter validation. */
import type { CreateDocumentRequest, DescribeDocumentRequest, GetDocumentRequest } from '@aws-sdk/client-ssm';
import { readFileSync } from 'node:fs';
import { fail } from '../errors';
import type { Document, DocumentOptions, DocumentParameter } from './records';
import type { SsmState } from './state';

/** Registers a Command document that runs a script file. */
export function registerDocument(ssm: SsmState, name: string, options: DocumentOptions): void {
  const parameters = options.parameters ?? {};
  ssm.documents.set(name, {
    name,
    scriptFile: options.scriptFile,
    parameters,
    executionTimeoutSeconds: options.executionTimeoutSeconds ?? 3600,
    content:
      options.content ??
      JSON.stringify({
        schemaVersion: '2.2',
        description: `Runs ${options.scriptFile}`,
        parameters: Object.fromEntries(
          Object.entries(parameters).map(([k, p]) => [k, { type: 'String', ...p }]),
        ),
        mainSteps: [
          {
            action: 'aws:runShellScript',
            name: 'run',
            inputs: {
              interpolationType: 'ENV_VAR',
              timeoutSeconds: options.executionTimeoutSeconds ?? 3600,
              runCommand: [safeRead(options.scriptFile)],
            },
          },
        ],
      }),
    created: ssm.cloud.clock.now(),
  });
}

export function createDocument(ssm: SsmState, input: CreateDocumentRequest): unknown {
  const name = input.Name;
  if (!name || !/^[a-zA-Z0-9_\-.]{3,128}$/.test(name))
    throw fail('ValidationException', `Invalid document name ${String(name)}.`);
  if (name.startsWith('AWS-') || name.startsWith('aws-') || name.startsWith('amazon')) {
    throw fail('ValidationException', 'Document names cannot start with aws-, amazon or amzn.');
  }
  if (ssm.documents.has(name)) throw fail('DocumentAlreadyExists', 'Document with same name already exists.');
  let content: {
    parameters?: Record<string, DocumentParameter & { type?: string }>;
    mainSteps?: { action?: string; inputs?: { runCommand?: string[]; timeoutSeconds?: number | string } }[];
  };
  try {
    content = JSON.parse(input.Content ?? '') as typeof content;
  } catch {
    throw fail(
      'InvalidDocumentContent',
      'The content for the document is not valid (only JSON is modelled).',
    );
  }
  const step = content.mainSteps?.[0];
  if (!step || step.action !== 'aws:runShellScript' || !Array.isArray(step.inputs?.runCommand)) {
    throw fail(
      'InvalidDocumentContent',
      'Only Command documents with an aws:runShellScript step are modelled.',
    );
  }
  ssm.documents.set(name, {
    name,
    scriptFile: '',
    script: step.inputs.runCommand.join('\n'),
    parameters: content.parameters ?? {},
    executionTimeoutSeconds: Number(step.inputs.timeoutSeconds ?? 3600),
    content: input.Content ?? '',
    created: ssm.cloud.clock.now(),
  });
  return { DocumentDescription: documentDescription(ssm.document(name)) };
}

export function describeDocument(ssm: SsmState, input: DescribeDocumentRequest): unknown {
  return { Document: documentDescription(ssm.document(input.Name)) };
}

export function getDocument(ssm: SsmState, input: GetDocumentRequest): unknown {
  const doc = ssm.document(input.Name);
  return {
    Name: doc.name,
    DocumentVersion: '1',
    Status: 'Active',
    Content: doc.content,
    DocumentType: 'Command',
    DocumentFormat: 'JSON',
  };
}

export function documentDescription(doc: Document): unknown {
  return {
    Name: doc.name,
    DocumentVersion: '1',
    LatestVersion: '1',
    DefaultVersion: '1',
    Status: 'Active',
    DocumentType: 'Command',
    DocumentFormat: 'JSON',
    SchemaVersion: '2.2',
    CreatedDate: new Date(doc.created),
    PlatformTypes: ['Linux', 'MacOS'],
    Parameters: Object.entries(doc.parameters).map(([Name, p]) => ({
      Name,
      Type: 'String',
      ...(p.description ? { Description: p.description } : {}),
      ...(p.default !== undefined ? { DefaultValue: p.default } : {}),
    })),
  };
}

/**
 * Validates parameters against the document (names, required ones, allowedPattern) and applies
 * defaults. SendCommand API reference, Errors: InvalidParameters, "You must specify values for
 * all required parameters in the Amazon Web Services Systems Manager document (SSM document).
 * You can only supply values to parameters defined in the SSM document." (HTTP 400).
 */
export function resolveParameters(doc: Document, given: Record<string, string[]>): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [name, list] of Object.entries(given)) {
    const spec = doc.parameters[name];
    if (!spec) throw fail('InvalidParameters', `Parameter "${name}" is not defined in document ${doc.name}.`);
    if (list.length !== 1)
      throw fail('InvalidParameters', `Parameter "${name}" must have exactly one value.`);
    values[name] = list[0] ?? '';
  }
  for (const [name, spec] of Object.entries(doc.parameters)) {
    if (values[name] === undefined) {
      if (spec.default === undefined)
        throw fail('InvalidParameters', `Parameter "${name}" is required by document ${doc.name}.`);
      values[name] = spec.default;
    }
    const value = values[name] ?? '';
    // allowedPattern is a (Java) regular expression that the whole value must match.
    if (spec.allowedPattern !== undefined && !new RegExp(spec.allowedPattern).test(value)) {
      throw fail(
        'InvalidParameters',
        `Parameter "${name}" value "${value}" does not match the allowed pattern ${spec.allowedPattern}.`,
      );
    }
  }
  return values;
}

export function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return `# ${file}`;
  }
}
