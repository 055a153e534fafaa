import { z } from 'zod';
import { duration, tlsSchema } from '../config/primitives.ts';

/**
 * Fields every cloud provider accepts, spread into each adapter's schema: an endpoint override
 * (tests, private endpoints), TLS, and how the link and the forwarder behave.
 */
/** A destination's id: in status, metrics labels and logs. */
export const DESTINATION_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;

export const cloudCommonFields = {
  id: z
    .string()
    .regex(DESTINATION_ID, 'expected an id of letters, digits, "_", "." or "-" (at most 32, starting with a letter or digit)')
    .optional()
    .meta({ description: 'Names this destination in status, metrics and logs; required in "clouds", "cloud" by default.' }),
  sensors: z
    .array(z.string().regex(/^[A-Za-z0-9_.*?-]{1,64}$/, 'expected a sensor id, or a pattern with * and ? such as "boiler-*"'))
    .min(1)
    .max(100)
    .optional()
    .meta({ description: 'Only the readings of these sensors go here ("*" matches any characters, "?" one); default all.' }),
  commands: z
    .strictObject({
      allow: z.array(z.string().min(1).max(128)).max(100).meta({ description: 'Commands accepted from this destination, instead of the top-level commands.allow.' }),
    })
    .optional()
    .meta({ description: 'Commands arriving on this destination: which are allowed (default: commands.allow).' }),
  url: z
    .url({ protocol: /^(mqtts?|wss?)$/, error: 'expected a URL such as "mqtts://host:8883" (mqtt, mqtts, ws or wss)' })
    .optional()
    .meta({ description: "Overrides the provider's endpoint, e.g. for a private endpoint or a test broker." }),
  // The PEM files it names are checked right after validation (src/agent-config/file-checks.ts).
  tls: tlsSchema.optional(),
  connectTimeout: duration({ min: '1s', max: '5m' }).prefault('30s').meta({ description: 'Give up on a connection attempt after this long.' }),
  reconnectMax: duration({ min: '1s', max: '1h' }).prefault('60s').meta({ description: 'Longest wait between reconnect attempts (exponential backoff with jitter from about 1s).' }),
  inFlight: z.int().min(1).max(1000).default(16).meta({ description: 'Messages published and not yet acknowledged at once.' }),
  batchSize: z.int().min(1).max(10_000).default(500).meta({ description: 'Most readings sent in one message.' }),
  linger: duration({ max: '1m' })
    .optional()
    .meta({
      description:
        'How long a live reading may wait for others to share its message (fewer messages and bytes on a metered link). "0s" sends each at once. Default per cloud: mqtt and waylay 50ms (acknowledged before the 100 ms commit, so live readings never touch flash), azure and alibaba 1s (billed per message), xyte 50ms. Command replies and a stored backlog never wait.',
    }),
  rateLimit: z.number().positive().optional().meta({ description: 'Most readings per second sent, so a backlog never floods a metered link or a cloud throttle. Default: no limit.' }),
};

export type CloudCommonConfig = z.output<z.ZodObject<typeof cloudCommonFields>>;
