// The key-file format of `occlum gen-image-key` / `occlum build --image-key`:
// 16 bytes as dash-separated lower-case hex, then a newline (48 bytes in all).
export function formatImageKey(key: Buffer): string {
  if (key.length !== 16) throw new RangeError('an Occlum image key is 16 bytes');
  return [...key].map((b) => b.toString(16).padStart(2, '0')).join('-') + '\n';
}

/** Parses the same format the way Occlum does: trailing CR/LF trimmed, 16 hex tokens, any case. */
export function parseImageKey(text: string): Buffer | null {
  const tokens = text.replace(/[\r\n]+$/, '').split('-');
  if (tokens.length !== 16 || !tokens.every((t) => /^[0-9a-fA-F]{2}$/.test(t))) return null;
  return Buffer.from(tokens.join(''), 'hex');
}
