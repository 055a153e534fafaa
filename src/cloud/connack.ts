// CONNACK return codes (MQTT 3.1.1 §3.2.2.3) and reason codes (MQTT 5 §3.2.2.2), in words for a
// technician: one table for the session and for `doctor`.

/** CONNACK return codes (3.1.1) and reason codes (5) that mean "fix the credentials", in words for a technician. */
export function describeConnackRefusal(code: number | string | undefined): { text: string; auth: boolean } | undefined {
  switch (code) {
    case 1:
    case 132:
      return { text: 'unsupported MQTT protocol version', auth: false };
    case 2:
    case 133:
      return { text: 'client id rejected', auth: true };
    case 3:
    case 136:
      return { text: 'server unavailable', auth: false };
    case 4:
    case 134:
      return { text: 'bad user name or password (check the credentials in the config)', auth: true };
    case 5:
    case 135:
      return { text: 'not authorized (wrong or expired credentials, or a clock that is off)', auth: true };
    case 137:
      return { text: 'server busy', auth: false };
    case 138:
      return { text: 'banned', auth: true };
    case 140:
      return { text: 'bad authentication method', auth: true };
    case 151:
      return { text: 'quota exceeded', auth: false };
    default:
      return undefined;
  }
}

