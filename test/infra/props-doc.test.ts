/**
 * The props reference (docs/props.md, linked from the README) is generated from the props
 * interfaces and the defaults in code; this fails when a prop, its type, default or JSDoc changed
 * without `npm run docs:props`, and the generator itself fails for a prop without a description.
 */
import { readFileSync } from 'node:fs';
import { PROPS_DOC, renderPropsDoc } from '../../scripts/props-doc';

describe('the props reference', () => {
  it('is the committed docs/props.md, up to date with the props interfaces (else run npm run docs:props)', () => {
    const generated = renderPropsDoc();
    expect(readFileSync(PROPS_DOC, 'utf8')).toBe(generated);
    // Every prop is there, the settings the Lambdas read included.
    for (const prop of [
      'autoScalingGroup',
      'filters',
      'mountPoint',
      'growth.iops',
      'timeouts.heartbeatSeconds',
      'nodes[].nodeId',
    ])
      expect(generated).toContain(`| \`${prop}\` |`);
  });
});
