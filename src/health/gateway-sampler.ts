// One sample of the gateway's own health, from cheap calls only: load and uptime from os, disk from
// statfs, memory, temperature and network bytes from /proc and /sys via systeminformation. Nothing
// here walks the process table; bench/health-sampling.ts measures the cost, children included.
import { statfs } from 'node:fs/promises';
import { loadavg, uptime } from 'node:os';

export type GatewaySample = Record<string, number>;

/** The systeminformation calls used; injectable so a board without a sensor can be tested. */
export interface SamplerSources {
  mem: () => Promise<{ total: number; available: number }>;
  cpuTemperature: () => Promise<{ main: number | null }>;
  /** Size of the filesystem holding `dir`. */
  diskOf: (dir: string) => Promise<{ size: number; used: number; available: number }>;
  networkStats: () => Promise<{ iface: string; rx_bytes: number; tx_bytes: number }[]>;
}

// systeminformation is loaded at the first sample, not at start: evaluating it costs tens of ms
// of a Pi's start to READY (bench/agent-start.ts).
const systemInformation = () => import('systeminformation').then((m) => m.default);

const realSources: SamplerSources = {
  mem: async () => (await systemInformation()).mem(),
  cpuTemperature: async () => (await systemInformation()).cpuTemperature(),
  // statfs instead of si.fsSize, which runs `df` in a child process every sample.
  diskOf: async (dir) => {
    const stats = await statfs(dir);
    const size = stats.blocks * stats.bsize;
    return { size, used: (stats.blocks - stats.bfree) * stats.bsize, available: stats.bavail * stats.bsize };
  },
  networkStats: async () => (await systemInformation()).networkStats('*'),
};

export async function sampleGateway(dataDir: string, sources: SamplerSources = realSources): Promise<GatewaySample> {
  const sample: GatewaySample = {};
  const [load1, load5, load15] = loadavg();
  sample['cpu.load1'] = round(load1 ?? 0);
  sample['cpu.load5'] = round(load5 ?? 0);
  sample['cpu.load15'] = round(load15 ?? 0);
  sample['uptime.s'] = Math.round(uptime());
  // Each part may fail on an odd board; the others still count.
  const [mem, temp, disk, nets] = await Promise.allSettled([sources.mem(), sources.cpuTemperature(), sources.diskOf(dataDir), sources.networkStats()]);
  if (mem.status === 'fulfilled' && mem.value.total > 0) {
    sample['mem.totalBytes'] = mem.value.total;
    sample['mem.availableBytes'] = mem.value.available;
    sample['mem.usedPercent'] = round(100 * (1 - mem.value.available / mem.value.total));
  }
  // Boards without a sensor report null or -1: leave the field out rather than send a fake value.
  if (temp.status === 'fulfilled' && typeof temp.value.main === 'number' && temp.value.main > 0) sample['temp.cpuC'] = round(temp.value.main);
  if (disk.status === 'fulfilled' && disk.value.size > 0) {
    sample['disk.totalBytes'] = disk.value.size;
    sample['disk.availableBytes'] = disk.value.available;
    sample['disk.usedPercent'] = round((100 * disk.value.used) / disk.value.size);
  }
  if (nets.status === 'fulfilled') {
    for (const net of nets.value) {
      if (net.iface === 'lo') continue;
      sample[`net.${net.iface}.rxBytes`] = net.rx_bytes;
      sample[`net.${net.iface}.txBytes`] = net.tx_bytes;
    }
  }
  return sample;
}

const round = (n: number) => Math.round(n * 100) / 100;
