// Checks of the gateway itself: clock, data directory, serial ports.
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdirSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import bytes from 'bytes';
import { clockSynchronized } from '../../clock.ts';
import { fail, ok, warn, type CheckResult } from './check.ts';

const run = promisify(execFile);
/** Below this the outbox soon hits its disk-full guard. */
const LOW_SPACE_BYTES = 100 * 1024 * 1024;

export async function checkClock(now = Date.now()): Promise<CheckResult> {
  if (!clockSynchronized(now)) {
    return fail('clock', `the system time ${new Date(now).toISOString()} is earlier than this release was built: readings get wrong timestamps and cloud tokens are refused`, 'enable NTP: sudo timedatectl set-ntp true (and check that UDP port 123 or the network time source is reachable)');
  }
  try {
    const { stdout } = await run('timedatectl', ['show', '-p', 'NTPSynchronized', '-p', 'NTP', '--value'], { timeout: 3000 });
    const [synced, ntp] = stdout.trim().split('\n');
    if (synced === 'yes') return ok('clock', `${new Date(now).toISOString()}, synchronized by NTP`);
    if (ntp !== 'yes') return warn('clock', 'NTP is switched off: the clock drifts, and after a power cut without RTC it restarts in the past', 'sudo timedatectl set-ntp true');
    return warn('clock', 'NTP is on but not synchronized yet (just booted, or no route to a time server)', 'check timedatectl timesync-status; allow UDP port 123 to the time servers');
  } catch {
    return ok('clock', `${new Date(now).toISOString()} (plausible; timedatectl not available to confirm NTP)`);
  }
}

export function checkDataDir(dir: string): CheckResult {
  const name = 'data directory';
  try {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    const probe = join(dir, `.doctor-${process.pid}`);
    writeFileSync(probe, 'x');
    rmSync(probe);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    return fail(name, `cannot write ${dir} (${code})`, `sudo mkdir -p ${dir} && sudo chown edge-agent: ${dir}`);
  }
  const fs = statfsSync(dir);
  const free = fs.bavail * fs.bsize;
  if (free < LOW_SPACE_BYTES) return warn(name, `${dir} is writable but only ${bytes(free)} free`, `free space on the file system holding ${dir}; the outbox drops the oldest readings when the disk is full`);
  return ok(name, `${dir} writable, ${bytes(free)} free`);
}

interface Account {
  uid: number;
  gids: Set<number>;
}

/** The service user's uid and groups from /etc/passwd and /etc/group, if it exists on this machine. */
export function serviceAccount(user: string, etc = '/etc'): Account | undefined {
  try {
    const entry = readFileSync(join(etc, 'passwd'), 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[0] === user);
    if (!entry) return undefined;
    const gids = new Set([Number(entry[3])]);
    for (const fields of readFileSync(join(etc, 'group'), 'utf8').split('\n').map((l) => l.split(':'))) {
      if ((fields[3] ?? '').split(',').includes(user)) gids.add(Number(fields[2]));
    }
    return { uid: Number(entry[2]), gids };
  } catch {
    return undefined;
  }
}

/** Whether an account may read and write a file with this owner and mode (root aside). */
export function canReadWrite(account: Account, file: { uid: number; gid: number; mode: number }): boolean {
  const rw = (shift: number) => ((file.mode >> shift) & 0o6) === 0o6;
  if (account.uid === 0) return true;
  if (file.uid === account.uid) return rw(6);
  if (account.gids.has(file.gid)) return rw(3);
  return rw(0);
}

export function checkSerialPort(sensorId: string, port: string, user: string, account = serviceAccount(user)): CheckResult {
  const name = `serial port ${port} (${sensorId})`;
  let stats;
  try {
    stats = statSync(port);
  } catch {
    return fail(name, 'not present', `plug in the adapter and check the cable; list ports with: edge-agent ports (or ls -l /dev/serial/by-id/, which gives names that survive re-plugging)`);
  }
  if (!stats.isCharacterDevice()) return fail(name, 'exists but is not a serial device', `point sensors[].port at the device node, e.g. /dev/ttyUSB0 or /dev/serial/by-id/...`);
  if (account) {
    if (!canReadWrite(account, stats)) return fail(name, `not readable and writable by the service user ${user} (owner uid ${stats.uid}, gid ${stats.gid}, mode ${(stats.mode & 0o777).toString(8)})`, `sudo usermod -aG dialout ${user} (the device must belong to group dialout with mode 660; check udev rules)`);
    return ok(name, `present, readable by ${user}`);
  }
  try {
    accessSync(port, constants.R_OK | constants.W_OK);
    return warn(name, `present and usable by the current user, but there is no user ${user} to check`, 'install with scripts/install.sh, which creates the service user in group dialout');
  } catch {
    return fail(name, 'present but not readable by the current user', 'add the user to group dialout: sudo usermod -aG dialout $USER (then log in again)');
  }
}
