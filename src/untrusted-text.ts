// Text that came from the network (a command name, a parameter key) is echoed in replies and log
// lines so an operator can see what was refused. Echoed whole, a 128 KB name becomes 128 KB in the
// reply, in the replay cache and in every log line that mentions it, and a few hundred of them
// exhausted the binary's 128 MB heap (issue #16). Everything that echoes such text goes through here.

/** How much of an untrusted string a reply or log line quotes. */
export const ECHO_CHARS = 64;

/**
 * The first `maxChars` characters, and when that is not all, an ellipsis and the full length, so
 * the reader knows it was cut: `"aaaa…" (131072 characters)`.
 */
export function echoUntrusted(text: string, maxChars: number = ECHO_CHARS): string {
  if (text.length <= maxChars) return text;
  let end = maxChars;
  // Do not split a surrogate pair: half of one is not a character.
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}… (${text.length} characters)`;
}
