// CPU cost of one gateway health sample (systeminformation + os), measured with process.cpuUsage.
//   npx node bench/health-sampling.ts [samples]
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { sampleGateway } from '../src/health/gateway-sampler.ts';

const samples = Number(process.argv[2] ?? 50);
await sampleGateway(tmpdir()); // warm up: module loading is not the steady-state cost
const wall = performance.now();
// Children (if systeminformation spawns any) count too: cutime + cstime from /proc/self/stat.
const childTicks = () => {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[13]) + Number(fields[14]);
};
const childrenBefore = childTicks();
const before = process.cpuUsage();
for (let i = 0; i < samples; i++) await sampleGateway(tmpdir());
const used = process.cpuUsage(before);
const childMs = ((childTicks() - childrenBefore) * 10) / samples; // USER_HZ is 100 on Linux
const cpuMs = (used.user + used.system) / 1000 / samples + childMs;
process.stdout.write(
  [
    `health sampling: ${samples} samples, ${((performance.now() - wall) / samples).toFixed(1)} ms wall each`,
    `  CPU per sample   ${cpuMs.toFixed(2)} ms (of which child processes ${childMs.toFixed(2)} ms)`,
    `  at one sample a minute: ${((cpuMs / 60_000) * 100).toFixed(4)} % of one core`,
    '',
  ].join('\n'),
);
