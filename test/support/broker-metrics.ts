// A broker's own metrics, read over JMX with Kafka's JmxTool (the shared test cluster opens JMX on loopback).
import { spawnJava } from '../../src/local-kafka/java-tool.js';
import { killWithOwner } from '../../src/local-kafka/owner-watchdog.js';
import type { NodeInfo } from '../../src/local-kafka/kafka-cluster.js';
import type { Sample } from './broker-bytes.js';

export interface JmxCounters {
  /** One list per object name, in their order, growing as JmxTool reports. */
  samples: Sample[][];
  /** Stops JmxTool; the samples' seconds count from originMs (epoch ms), by default from the start. */
  stop(originMs?: number): Promise<Sample[][]>;
}

/**
 * Samples one attribute (a counter such as BytesOutPerSec's Count) of several MBeans of one broker with one JmxTool,
 * every `everyMs`, until stop(). JmxTool's CSV header names the columns; its first column is the time of the reading
 * (epoch ms), since its output may reach us in bursts.
 */
export function jmxCounters(classpath: string, node: NodeInfo, objectNames: readonly string[], attribute = 'Count', everyMs = 1000): JmxCounters {
  if (node.jmxPort === undefined) throw new Error(`broker ${node.id} has no JMX port`);
  const child = spawnJava('org.apache.kafka.tools.JmxTool', [
    '--jmx-url', `service:jmx:rmi:///jndi/rmi://127.0.0.1:${node.jmxPort}/jmxrmi`,
    ...objectNames.flatMap((n) => ['--object-name', n]), '--attributes', attribute, '--reporting-interval', String(everyMs), '--wait',
  ], { classpath, heapMb: 64 });
  killWithOwner(child.pid!);
  const start = Date.now();
  const samples: Sample[][] = objectNames.map(() => []);
  let columns: number[] | undefined;
  let pending = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => void (stderr = (stderr + c).slice(-4000)));
  child.stdout!.setEncoding('utf8').on('data', (c: string) => {
    pending += c;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (!columns && line.startsWith('"time"')) {
        // the header's names are quoted, and object names hold commas
        const names = [...line.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
        const key = (name: string) => name.replace(`:${attribute}`, '').split(/[:,]/).sort().join(','); // key order aside
        columns = objectNames.map((n) => names.map(key).indexOf(key(n)));
      } else if (columns && /^\d/.test(line)) {
        const fields = line.split(',');
        const at = (Number(fields[0]) - start) / 1000;
        columns.forEach((col, i) => {
          const v = Number(fields[col]);
          if (col >= 0 && Number.isFinite(v)) samples[i]!.push({ seconds: at, value: v });
        });
      }
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    samples,
    stop: async (originMs = start) => {
      child.kill('SIGKILL');
      await exited;
      const empty = objectNames.filter((_, i) => samples[i]!.length === 0);
      if (empty.length === objectNames.length) throw new Error(`JmxTool gave no samples of ${empty.join(', ')}: ${stderr}`);
      return samples.map((xs) => xs.map((x) => ({ seconds: x.seconds - (originMs - start) / 1000, value: x.value })));
    },
  };
}

/** Samples an MBean attribute (a counter such as BytesOutPerSec's Count) every `everyMs` until stop(). */
export function jmxSampler(classpath: string, node: NodeInfo, objectName: string, attribute = 'Count', everyMs = 1000): { stop(): Promise<Sample[]> } {
  const counters = jmxCounters(classpath, node, [objectName], attribute, everyMs);
  return { stop: async () => (await counters.stop())[0]! };
}
