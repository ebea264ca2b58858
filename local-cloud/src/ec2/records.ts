/** The EC2 model's internal records (mutable; never handed out: views and outputs are built from them). */
import type { LocalAttachmentState, LocalInstanceState, LocalVolumeState, LocalVolumeType } from './types';

export interface SubnetRec {
  id: string;
  vpcId: string;
  az: string;
  azId: string;
  cidr: string;
  base: number;
  size: number;
  next: number;
  used: Set<number>;
}

export interface VolAttach {
  instance: InstanceRec;
  device: string;
  state: LocalAttachmentState;
  attachTime: number;
  deleteOnTermination: boolean;
  /** Stuck in `attaching` (fault injection): only a forced detach releases it. */
  stuck?: boolean;
}

export interface ModRec {
  state: 'modifying' | 'optimizing' | 'completed';
  startTime: number;
  endTime?: number;
  originalSize: number;
  targetSize: number;
  originalType: LocalVolumeType;
  targetType: LocalVolumeType;
  originalIops?: number;
  targetIops?: number;
  originalThroughput?: number;
  targetThroughput?: number;
}

export interface VolumeRec {
  id: string;
  az: string;
  size: number;
  volumeType: LocalVolumeType;
  iops?: number;
  throughput?: number;
  encrypted: boolean;
  kmsKeyId?: string;
  snapshotId?: string;
  createTime: number;
  /** Not visible to the API before this time (eventual consistency); absent: visible. */
  visibleAt?: number;
  state: LocalVolumeState;
  tags: Map<string, string>;
  attachment?: VolAttach;
  modifications: ModRec[];
}

export interface EniAttach {
  attachmentId: string;
  instance: InstanceRec;
  deviceIndex: number;
  state: LocalAttachmentState;
  attachTime: number;
  deleteOnTermination: boolean;
}

export interface EniRec {
  id: string;
  subnet: SubnetRec;
  privateIp: string;
  description: string;
  tags: Map<string, string>;
  status: 'available' | 'in-use';
  attachment?: EniAttach;
  mac: string;
  /** Not visible to the API before this time (eventual consistency); absent: visible. */
  visibleAt?: number;
}

export interface InstanceRec {
  id: string;
  instanceType: string;
  subnet: SubnetRec;
  privateIp: string;
  tags: Map<string, string>;
  state: LocalInstanceState;
  launchTime: number;
  /** Not visible to the API before this time (eventual consistency); absent: visible. */
  visibleAt?: number;
  reservationId: string;
  /** Device name → volume (attaching, attached or detaching: the name is taken until detached). */
  devices: Map<string, VolumeRec>;
  /** Device index → ENI. */
  enis: Map<number, EniRec>;
  transitionReason: string;
  /** Device name → time until which it stays taken after a detach (see timing.deviceReleaseMs). */
  heldDevices: Map<string, number>;
}

export const STATE_CODES: Record<LocalInstanceState, number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};
