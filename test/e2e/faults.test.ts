/**
 * A small fault campaign (the full one is `npm run bench -- faults`): lifecycle and alarm events
 * with throttling, API errors, duplicates, reordering and killed handlers, then the reconciler;
 * every invariant must hold. A violation prints the seed and the event log to replay it.
 */
import { campaign, FAULT_KINDS, type CampaignResult } from '../bench/faults';
import { INVARIANTS } from '../demo/invariants';

jest.setTimeout(300_000);

describe('the fault campaign', () => {
  let result: CampaignResult;

  beforeAll(async () => {
    // Host steps do not fail here (the full campaign also injects failed host scripts).
    ({ result } = await campaign({ seeds: [1, 2], eventsPerSeed: 100, scriptFailureRate: 0 }));
  });

  it('runs 200 faulty lifecycle and alarm events with duplicates and killed handlers', () => {
    expect(result.events).toBeGreaterThanOrEqual(200);
    expect(result.kills).toBeGreaterThan(0);
    expect(result.duplicates).toBeGreaterThan(0);
    // Every handler call was judged against its role's synthesized policy, and none was refused.
    expect(result.iamDenied).toBe(0);
    expect(Object.keys(result.byInvariant).sort()).toEqual([...INVARIANTS].sort());
    expect(Object.keys(result.faultsByKind).sort()).toEqual([...FAULT_KINDS].sort());
  });

  it('keeps the invariants of the new fault classes: zones, alarms, commands, NodeID volumes', () => {
    expect({
      volumeInOtherZone: result.byInvariant.volumeInOtherZone,
      nodeWithoutAlarm: result.byInvariant.nodeWithoutAlarm,
      alarmOfGoneInstance: result.byInvariant.alarmOfGoneInstance,
      nodeIdVolumeDeleted: result.byInvariant.nodeIdVolumeDeleted,
      hostStepsAtOnce: result.byInvariant.hostStepsAtOnce,
      preparedAfterQuiesce: result.byInvariant.preparedAfterQuiesce,
    }).toEqual({
      volumeInOtherZone: 0,
      nodeWithoutAlarm: 0,
      alarmOfGoneInstance: 0,
      nodeIdVolumeDeleted: 0,
      hostStepsAtOnce: 0,
      preparedAfterQuiesce: 0,
    });
  });

  it('never attaches a set to two instances, leaves none half-attached, completes every lifecycle action and keeps every NodeID volume', () => {
    expect({
      setOnTwoInstances: result.byInvariant.setOnTwoInstances,
      setHalfAttached: result.byInvariant.setHalfAttached,
      lifecycleNotCompleted: result.byInvariant.lifecycleNotCompleted,
      volumeDeletedWrongly: result.byInvariant.volumeDeletedWrongly,
      nodeIdVolumeMissing: result.byInvariant.nodeIdVolumeMissing,
    }).toEqual({
      setOnTwoInstances: 0,
      setHalfAttached: 0,
      lifecycleNotCompleted: 0,
      volumeDeletedWrongly: 0,
      nodeIdVolumeMissing: 0,
    });
  });

  it('leaves no grown volume that never joined its filesystem', () => {
    expect(result.byInvariant.grownVolumeLeaked).toBe(0);
  });
});
