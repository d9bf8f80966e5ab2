// Where the settings a config error names (`quotas.3.produceBytesPerSec`, `connections.maxPerIpOverrides.10.0.0.0/8`)
// are in the YAML file: each error line gets the setting's line, so that one entry among thousands can be found.
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';

/** An error line: two spaces, the setting's path, ': ', what is wrong. */
const ERROR_LINE = /^( {2})(\S.*?)(: .*)$/;

/** `message` with ` (line N)` after each setting it names that the file holds. */
export function withLines(message: string, text: string): string {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  return message.split('\n').map((l) => {
    const m = ERROR_LINE.exec(l);
    const offset = m ? offsetOf(doc.contents, m[2]!) : undefined;
    return offset === undefined ? l : `${m![1]}${m![2]} (line ${lines.linePos(offset).line})${m![3]}`;
  }).join('\n');
}

/**
 * Where the deepest part of `path` found in the document starts. Keys may hold dots themselves (a network's
 * 10.0.0.0/8): at each mapping the longest key that the path goes on with is taken.
 */
function offsetOf(node: unknown, path: string): number | undefined {
  let found: number | undefined;
  let rest = path;
  while (rest !== '') {
    if (isMap(node)) {
      let best: { key: string; at: number | undefined; value: unknown } | undefined;
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
        if (key === undefined || (rest !== key && !rest.startsWith(`${key}.`)) || (best && best.key.length >= key.length)) continue;
        best = { key, at: isScalar(pair.key) ? pair.key.range?.[0] : undefined, value: pair.value };
      }
      if (!best) break;
      found = best.at ?? found;
      node = best.value;
      rest = rest.slice(best.key.length + 1);
    } else if (isSeq(node)) {
      const m = /^(\d+)(?:\.|$)/.exec(rest);
      const item: unknown = m ? node.items[Number(m[1])] : undefined;
      if (!m || !item) break;
      found = (item as { range?: [number, number, number] }).range?.[0] ?? found;
      node = item;
      rest = rest.slice(m[0].length);
    } else {
      break;
    }
  }
  return found;
}
