// What the update machinery remembers across restarts, in <dataDir>/update/state.json (written
// whole, atomically, 0600): which installed binary runs instead of the launcher, the one on trial,
// the update being downloaded, and outcomes still to be reported to the cloud that asked. Every
// version of the agent reads this file, old and new: `format` changes only with a migration.
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { readBoundedJson } from '../config/read-json-file.ts';
import { writeFileAtomic } from '../config/write.ts';

const installedSchema = z.object({ version: z.string().max(64), path: z.string().max(4096), sha256: z.string().regex(/^[0-9a-f]{64}$/) });

/** Who asked: the destination the command came in on, and what its adapter needs to answer it (replyTo is opaque JSON). */
const requesterSchema = z.object({
  destination: z.string().max(64),
  command: z.object({ id: z.string().max(128), name: z.string().max(128), origin: z.string().max(64), replyTo: z.unknown() }),
});

const resultSchema = z.object({ ok: z.boolean(), status: z.int(), data: z.unknown().optional(), message: z.string().max(4096).optional() });

export const updateParamsSchema = z.strictObject({
  url: z.string().max(2048),
  sha256: z.string().regex(/^[0-9a-fA-F]{64}$/),
  signature: z.string().max(256),
  version: z.string().max(64),
  allowDowngrade: z.boolean().optional(),
});

const stateSchema = z.object({
  format: z.literal(1),
  /** The binary systemd starts (ExecStart) when it last launched an update: replaced by hand since, the update no longer applies. */
  launcher: z.object({ version: z.string().max(64), size: z.number(), mtimeMs: z.number() }).optional(),
  /** Confirmed: runs instead of the launcher. */
  active: installedSchema.optional(),
  /** Installed, not yet confirmed: started once by the launcher; a second start means it failed. */
  trial: installedSchema
    .extend({
      from: z.string().max(64),
      previous: installedSchema.optional(),
      confirmWithinMs: z.number().positive(),
      starts: z.int().nonnegative(),
      requester: requesterSchema.optional(),
    })
    .optional(),
  /** Accepted, being downloaded and checked; resumed after a restart. */
  job: z.object({ requester: requesterSchema, params: updateParamsSchema, acceptedAt: z.number() }).optional(),
  reports: z.array(requesterSchema.extend({ result: resultSchema })).max(16).default([]),
  last: z
    .object({
      version: z.string().max(64),
      from: z.string().max(64),
      outcome: z.enum(['installed', 'rolled-back', 'refused', 'failed', 'superseded']),
      message: z.string().max(4096).optional(),
      at: z.number(),
    })
    .optional(),
});

export type UpdateState = z.output<typeof stateSchema>;
export type Installed = z.output<typeof installedSchema>;
export type Trial = NonNullable<UpdateState['trial']>;
export type Requester = z.output<typeof requesterSchema>;
export type UpdateParams = z.output<typeof updateParamsSchema>;
export type UpdateReport = UpdateState['reports'][number];
export type LastUpdate = NonNullable<UpdateState['last']>;

export const EMPTY_STATE: UpdateState = { format: 1, reports: [] };

/** A reply address may hold bytes (MQTT 5 correlation data): Buffer.toJSON's shape is turned back into a Buffer. */
function reviveBuffers(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)) return Buffer.from((value as { data: number[] }).data);
  return value;
}

export class UpdateStore {
  readonly dir: string;
  readonly versionsDir: string;
  readonly downloadsDir: string;
  readonly #file: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'update');
    this.versionsDir = join(this.dir, 'versions');
    this.downloadsDir = join(this.dir, 'download');
    this.#file = join(this.dir, 'state.json');
  }

  /** The state, or the empty one when there is none (or it is damaged: then no update applies, and the launcher runs itself). */
  read(): UpdateState {
    const raw = readBoundedJson(this.#file, { reviver: reviveBuffers });
    const parsed = stateSchema.safeParse(raw);
    return parsed.success ? parsed.data : { ...EMPTY_STATE };
  }

  write(state: UpdateState): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(this.#file, `${JSON.stringify(state)}\n`, 0o600);
  }

  update(change: (state: UpdateState) => UpdateState): UpdateState {
    const next = change(this.read());
    this.write(next);
    return next;
  }

  versionPath(version: string, sha256: string): string {
    return join(this.versionsDir, `edge-agent-${version.replace(/[^A-Za-z0-9._-]/g, '_')}-${sha256.slice(0, 12)}`);
  }

  downloadPath(sha256: string): string {
    return join(this.downloadsDir, `${sha256.toLowerCase()}.part`);
  }

  /** Installed binaries nothing refers to any more (~100 MB each on a small card), and partial downloads of other files. */
  removeUnused(state: UpdateState, keepDownload?: string): void {
    const keep = new Set([state.active?.path, state.trial?.path, state.trial?.previous?.path].filter((p) => p !== undefined));
    for (const [dir, keeps] of [
      [this.versionsDir, (path: string) => keep.has(path)],
      [this.downloadsDir, (path: string) => keepDownload !== undefined && (path === keepDownload || path === `${keepDownload}.meta`)],
    ] as const) {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      for (const name of names) if (!keeps(join(dir, name))) rmSync(join(dir, name), { force: true });
    }
  }
}
