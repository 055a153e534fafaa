import { z } from 'zod';
import { duration, size } from '../config/primitives.ts';
import { parsePublicKey } from './public-keys.ts';

/** Keys at once: enough for a rotation (old and new) across a few signing teams. */
export const MAX_PUBLIC_KEYS = 8;

const publicKey = z
  .string()
  .max(1024)
  .superRefine((text, ctx) => {
    const parsed = parsePublicKey(text);
    if ('problem' in parsed) ctx.addIssue({ code: 'custom', message: parsed.problem });
  })
  .meta({ description: 'An Ed25519 public key: the 44-character base64 line `edge-agent update-keygen` prints, or a PEM "PUBLIC KEY" block.' });

export const updateConfigSchema = z
  .strictObject({
    publicKeys: z
      .array(publicKey)
      .max(MAX_PUBLIC_KEYS)
      .default([])
      .meta({ description: 'Keys whose Ed25519 signature an agent binary must carry to be installed by agent.update. Empty (the default): the gateway accepts no remote update.' }),
    confirmWithin: duration({ min: '5s', max: '1h' })
      .prefault('3m')
      .meta({ description: 'After an update, the new version must start, open its outbox and connect to a cloud within this time; otherwise the previous binary is put back and started.' }),
    maxBytes: size({ min: '1MB', max: '1GB' }).prefault('256MB').meta({ description: 'Largest binary agent.update downloads.' }),
    tls: z
      .strictObject({
        ca: z
          .string()
          .regex(/^\//, 'expected an absolute path to a PEM file')
          // The file itself is checked when the config is loaded (src/agent-config/file-checks.ts), not at the first download months later.
          .optional().meta({ description: 'CA bundle that signs the download server\'s certificate (PEM path). Default: the system store.' }),
        rejectUnauthorized: z.boolean().default(true).meta({ description: 'Verify the download server\'s certificate. The signature still protects the binary, but only set false on a test bench.' }),
      })
      .prefault({}),
  })
  .meta({ description: 'Remote updates of the agent itself (command agent.update): signed, resumable, rolled back when the new version does not come up.' });

export type UpdateConfig = z.output<typeof updateConfigSchema>;
