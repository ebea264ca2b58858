import { deviceNames, nextFreeDevice } from '../../../lambdas/aws/attachments';

describe('nextFreeDevice', () => {
  it('starts at /dev/sdf when only the root disk is used', () => {
    // Prepare / Act
    const device = nextFreeDevice(['/dev/xvda'], 28);
    // Assess
    expect(device).toBe('/dev/sdf');
  });

  it('skips names in use whether written as sd or xvd', () => {
    expect(nextFreeDevice(['/dev/xvda', '/dev/sdf', '/dev/xvdg'], 28)).toBe('/dev/sdh');
  });

  it('does not reuse a name that was just detached', () => {
    expect(nextFreeDevice(['/dev/xvda'], 28, ['/dev/sdf'])).toBe('/dev/sdg');
  });

  it('continues with the two-letter names /dev/xvd[b-c][a-z] after /dev/sdp', () => {
    const used = ['/dev/xvda', ...[...'fghijklmnop'].map((c) => `/dev/sd${c}`)];
    expect(nextFreeDevice(used, 128)).toBe('/dev/xvdba');
    expect(nextFreeDevice([...used, '/dev/sdba'], 128)).toBe('/dev/xvdbb');
  });

  it('answers undefined when the instance reached its limit', () => {
    expect(nextFreeDevice(['/dev/xvda', '/dev/sdf'], 2)).toBeUndefined();
  });

  it("offers EC2's documented Linux names only: /dev/sd[f-p], then /dev/xvd[b-c][a-z]", () => {
    const names = [...deviceNames()];
    expect(new Set(names).size).toBe(63);
    expect(names.slice(0, 2)).toEqual(['/dev/sdf', '/dev/sdg']);
    expect(names.slice(10, 12)).toEqual(['/dev/sdp', '/dev/xvdba']);
    expect(names.at(-1)).toBe('/dev/xvdcz');
  });
});
