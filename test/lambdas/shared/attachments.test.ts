import { deviceNames, nextFreeDevice } from '../../../lambdas/shared/attachments';

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

  it('continues with two-letter names after /dev/sdz', () => {
    const used = ['/dev/xvda', ...[...'fghijklmnopqrstuvwxyz'].map((c) => `/dev/sd${c}`)];
    expect(nextFreeDevice(used, 128)).toBe('/dev/sdba');
  });

  it('answers undefined when the instance reached its limit', () => {
    expect(nextFreeDevice(['/dev/xvda', '/dev/sdf'], 2)).toBeUndefined();
  });

  it('offers more names than the largest dedicated limit', () => {
    expect(new Set(deviceNames()).size).toBeGreaterThan(128);
  });
});
