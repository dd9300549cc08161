import { describe, expect, it } from 'vitest';
import type { ContainerRequests, PodInfo } from '../../src/kubernetes/client.js';
import type { ClaimInterval, PodInterval } from '../../src/db/kubernetes-observations.js';
import { effectivePodRequests, podFinishedAt, usageOfDay } from '../../src/usage/kubernetes-usage.js';

type PodSpecPart = Pick<PodInfo, 'containers' | 'initContainers' | 'podRequests' | 'overhead'>;

const container = (requests: Record<string, string>, restartPolicy?: string): ContainerRequests => ({
  name: 'c',
  requests,
  ...(restartPolicy === undefined ? {} : { restartPolicy }),
});

const requestsOf = (spec: Partial<PodSpecPart>) =>
  effectivePodRequests({
    namespace: 'ns',
    name: 'pod',
    containers: [],
    initContainers: [],
    podRequests: undefined,
    overhead: undefined,
    ...spec,
  });

describe('effectivePodRequests', () => {
  it('should sum the containers requests', () => {
    expect(
      requestsOf({
        containers: [
          container({ cpu: '1', memory: '6Gi', 'nvidia.com/gpu': '1' }),
          container({ cpu: '500m', memory: '512Mi', 'ephemeral-storage': '1Gi' }),
        ],
      }),
    ).toEqual({ cpuMillicores: 1500n, gpus: 1n, memoryBytes: 6_979_321_856n });
  });

  it('should reserve the largest init container when it asks for more than the containers together', () => {
    expect(
      requestsOf({
        initContainers: [container({ cpu: '4', memory: '1Gi' }), container({ cpu: '2', memory: '2Gi' })],
        containers: [container({ cpu: '1', memory: '3Gi' }), container({ cpu: '500m' })],
      }),
      // CPU from the first init container, memory from the containers: per resource, not per container.
    ).toEqual({ cpuMillicores: 4000n, gpus: 0n, memoryBytes: 3n * 2n ** 30n });
  });

  it('should add sidecars to the containers and to the init containers that start after them', () => {
    expect(
      requestsOf({
        initContainers: [
          container({ cpu: '250m', memory: '256Mi' }, 'Always'),
          container({ cpu: '2', memory: '512Mi' }),
        ],
        containers: [container({ cpu: '1', memory: '1Gi' })],
      }),
      // Running: 1 + 0.25 CPU, 1Gi + 256Mi; init: 2 + 0.25 CPU, 512Mi + 256Mi.
    ).toEqual({ cpuMillicores: 2250n, gpus: 0n, memoryBytes: 1280n * 2n ** 20n });
  });

  it('should let pod-level requests replace the containers CPU or memory, and add the overhead', () => {
    expect(
      requestsOf({
        containers: [container({ cpu: '1', memory: '1Gi', 'nvidia.com/gpu': '2' })],
        podRequests: { cpu: '3' },
        overhead: { cpu: '100m', memory: '64Mi' },
      }),
    ).toEqual({ cpuMillicores: 3100n, gpus: 2n, memoryBytes: 1088n * 2n ** 20n });
  });

  it('should add exactly and round up once, as the scheduler does', () => {
    // Two 0.5m containers reserve 1m, not 2m; 1 byte and a half-byte reserve 2 bytes.
    expect(
      requestsOf({
        containers: [container({ cpu: '0.5m', memory: '1' }), container({ cpu: '500u', memory: '0.5' })],
      }),
    ).toEqual({ cpuMillicores: 1n, gpus: 0n, memoryBytes: 2n });
  });

  it('should reserve nothing for a pod without requests', () => {
    expect(requestsOf({ containers: [container({})] })).toEqual({
      cpuMillicores: 0n,
      gpus: 0n,
      memoryBytes: 0n,
    });
  });

  it('should name the pod of a quantity it cannot read', () => {
    expect(() => requestsOf({ containers: [container({ cpu: 'lots' })] })).toThrow(/pod ns\/pod: cpu/);
  });
});

describe('podFinishedAt', () => {
  const times = ['2026-03-10T10:20:00.000Z', '2026-03-10T10:25:00.000Z', '2026-03-10T10:00:00.000Z'];
  it('should be the latest container finish of a Succeeded or Failed pod', () => {
    expect(podFinishedAt({ phase: 'Succeeded', containerFinishTimes: times })).toBe(times[1]);
    expect(podFinishedAt({ phase: 'Failed', containerFinishTimes: times })).toBe(times[1]);
  });

  it('should be undefined while the pod runs (a restarted container finished once) or reports none', () => {
    expect(podFinishedAt({ phase: 'Running', containerFinishTimes: times })).toBeUndefined();
    expect(podFinishedAt({ phase: 'Failed', containerFinishTimes: [] })).toBeUndefined();
  });
});

describe('usageOfDay', () => {
  const pod = (
    fields: Partial<Omit<PodInterval, 'start' | 'end'>> & { start: string; end: string },
  ): PodInterval => ({
    cpuMillicores: 0n,
    gpus: 0n,
    memoryBytes: 0n,
    ...fields,
    start: new Date(fields.start),
    end: new Date(fields.end),
  });
  const claim = (capacityBytes: bigint, start: string, end: string): ClaimInterval => ({
    capacityBytes,
    start: new Date(start),
    end: new Date(end),
  });

  it('should integrate requests over the part of each interval inside the day', () => {
    const pods = [
      // 25 minutes with 4 CPUs, a GPU and 6.5Gi.
      pod({
        cpuMillicores: 4000n,
        gpus: 1n,
        memoryBytes: 6_979_321_856n,
        start: '2026-03-10T10:00:00Z',
        end: '2026-03-10T10:25:00Z',
      }),
      // Across midnight: half an hour of it belongs to the day.
      pod({ cpuMillicores: 2000n, start: '2026-03-09T23:30:00Z', end: '2026-03-10T00:30:00Z' }),
      // The next day's pod counts nothing.
      pod({ cpuMillicores: 9000n, start: '2026-03-11T00:00:00Z', end: '2026-03-11T05:00:00Z' }),
    ];
    expect(usageOfDay('2026-03-10', pods, [])).toEqual({
      usage: {
        cpu_hours: '2.666666667', // 4 × 25/60 + 2 × 0.5, summed before rounding
        gpu_hours: '0.416666667',
        memory_gb_hours: '2.908050773', // 6.979321856 GB × 25/60
        storage_gb: '0',
      },
      pods: 2,
      claims: 0,
    });
  });

  it('should average claims over the day, a claim created mid-day counting from its creation', () => {
    const claims = [
      claim(100n * 2n ** 30n, '2026-03-01T00:00:00Z', '2026-03-11T00:05:00Z'),
      claim(50n * 2n ** 30n, '2026-03-10T18:00:00Z', '2026-03-11T00:05:00Z'),
      claim(10n * 2n ** 30n, '2026-03-07T00:00:00Z', '2026-03-10T06:00:00Z'),
    ];
    // 107.3741824 + 53.6870912 / 4 + 10.73741824 / 4.
    expect(usageOfDay('2026-03-10', [], claims).usage.storage_gb).toBe('123.48030976');
  });

  it('should round once per metric, not once per pod', () => {
    // 1,000 pods of 1 millicore for 1 ms: each alone rounds to 0, together they are 1 millicore-second.
    const pods = Array.from({ length: 1000 }, () =>
      pod({ cpuMillicores: 1n, start: '2026-03-10T00:00:00.000Z', end: '2026-03-10T00:00:00.001Z' }),
    );
    expect(usageOfDay('2026-03-10', pods, []).usage.cpu_hours).toBe('0.000000278');
  });
});
