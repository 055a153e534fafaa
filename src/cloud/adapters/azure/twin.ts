// Device twin and direct-method topics (learn.microsoft.com, "Communicate with an IoT hub using MQTT").

/** `$iothub/methods/POST/{method}/?$rid={rid}` */
export function parseMethodTopic(topic: string): { method: string; rid: string } | undefined {
  const match = /^\$iothub\/methods\/POST\/([^/]+)\/\?\$rid=(.+)$/.exec(topic);
  return match ? { method: decodeOrKeep(match[1]!), rid: match[2]! } : undefined;
}

/** A method name with a broken escape ("%E0%A4%A") is kept as sent: decodeURIComponent would throw. */
function decodeOrKeep(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** `$iothub/twin/res/{status}/?$rid={rid}[&$version=n]` */
export function parseTwinResponseTopic(topic: string): { status: number; rid: string; version?: number } | undefined {
  const match = /^\$iothub\/twin\/res\/(\d{3})\/\?(.*)$/.exec(topic);
  if (!match) return undefined;
  const query = new URLSearchParams(match[2]);
  const rid = query.get('$rid');
  if (!rid) return undefined;
  const version = query.get('$version');
  return { status: Number(match[1]), rid, ...(version ? { version: Number(version) } : {}) };
}

/** `$iothub/twin/PATCH/properties/desired/?$version={n}` */
export function parseDesiredPatchTopic(topic: string): { version: number } | undefined {
  const match = /^\$iothub\/twin\/PATCH\/properties\/desired\/\?\$version=(\d+)/.exec(topic);
  return match ? { version: Number(match[1]) } : undefined;
}
