// One sample of the gateway's own health. Only cheap calls: load averages and uptime come from
// os (no process spawned), memory, temperature, disk and network from files under /proc and /sys
// via systeminformation. Nothing here forks a process or walks the process table.
import { loadavg, uptime } from 'node:os';
import si from 'systeminformation';

export type GatewaySample = Record<string, number>;

/** The systeminformation calls used; injectable so a board without a sensor can be tested. */
export interface SamplerSources {
  mem: () => Promise<{ total: number; available: number }>;
  cpuTemperature: () => Promise<{ main: number | null }>;
  fsSize: () => Promise<{ mount: string; size: number; used: number; available: number }[]>;
  networkStats: () => Promise<{ iface: string; rx_bytes: number; tx_bytes: number }[]>;
}

const realSources: SamplerSources = {
  mem: () => si.mem(),
  cpuTemperature: () => si.cpuTemperature(),
  fsSize: () => si.fsSize(),
  networkStats: () => si.networkStats('*'),
};

export async function sampleGateway(dataDir: string, sources: SamplerSources = realSources): Promise<GatewaySample> {
  const sample: GatewaySample = {};
  const [load1, load5, load15] = loadavg();
  sample['cpu.load1'] = round(load1 ?? 0);
  sample['cpu.load5'] = round(load5 ?? 0);
  sample['cpu.load15'] = round(load15 ?? 0);
  sample['uptime.s'] = Math.round(uptime());
  // Each part may fail on an odd board; the others still count.
  const [mem, temp, disks, nets] = await Promise.allSettled([sources.mem(), sources.cpuTemperature(), sources.fsSize(), sources.networkStats()]);
  if (mem.status === 'fulfilled' && mem.value.total > 0) {
    sample['mem.totalBytes'] = mem.value.total;
    sample['mem.availableBytes'] = mem.value.available;
    sample['mem.usedPercent'] = round(100 * (1 - mem.value.available / mem.value.total));
  }
  // Boards without a sensor report null or -1: leave the field out rather than send a fake value.
  if (temp.status === 'fulfilled' && typeof temp.value.main === 'number' && temp.value.main > 0) sample['temp.cpuC'] = round(temp.value.main);
  if (disks.status === 'fulfilled') {
    const disk = mountOf(dataDir, disks.value);
    if (disk && disk.size > 0) {
      sample['disk.totalBytes'] = disk.size;
      sample['disk.availableBytes'] = disk.available;
      sample['disk.usedPercent'] = round((100 * disk.used) / disk.size);
    }
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

/** The filesystem holding the data dir: the longest mount point that prefixes it. */
function mountOf<T extends { mount: string }>(dir: string, disks: T[]): T | undefined {
  return disks.filter((d) => dir === d.mount || dir.startsWith(d.mount.endsWith('/') ? d.mount : `${d.mount}/`)).sort((a, b) => b.mount.length - a.mount.length)[0];
}

const round = (n: number) => Math.round(n * 100) / 100;
