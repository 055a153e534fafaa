// `edge-agent health-sample` (hidden): one health reading through systeminformation, printed as
// JSON. It exists so the single-file binary's build test proves that systeminformation's
// child-process and /proc readers work inside the bundle, not only at `version`.
import type { Writable } from 'node:stream';
import si from 'systeminformation';

export interface HealthSample {
  cpuLoadPercent: number;
  memUsedBytes: number;
  memTotalBytes: number;
  disks: { mount: string; usePercent: number }[];
  cpuTempC: number | null;
  uptimeSeconds: number;
}

export async function sampleHealth(): Promise<HealthSample> {
  const [load, mem, disks, temp] = await Promise.all([si.currentLoad(), si.mem(), si.fsSize(), si.cpuTemperature()]);
  return {
    cpuLoadPercent: Math.round(load.currentLoad * 10) / 10,
    memUsedBytes: mem.active,
    memTotalBytes: mem.total,
    disks: disks.map((d) => ({ mount: d.mount, usePercent: d.use })),
    cpuTempC: typeof temp.main === 'number' ? temp.main : null,
    uptimeSeconds: Math.round(si.time().uptime),
  };
}

export async function runHealthSample(out: Writable): Promise<number> {
  out.write(`${JSON.stringify(await sampleHealth())}\n`);
  return 0;
}
