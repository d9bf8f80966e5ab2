// A broker's own metrics, read over JMX with Kafka's JmxTool (the shared test cluster opens JMX on loopback).
import { spawnJava } from '../../src/local-kafka/java-tool.js';
import { killWithOwner } from '../../src/local-kafka/owner-watchdog.js';
import type { NodeInfo } from '../../src/local-kafka/kafka-cluster.js';
import type { Sample } from './broker-bytes.js';

/** Samples an MBean attribute (a counter such as BytesOutPerSec's Count) every `everyMs` until stop(). */
export function jmxSampler(classpath: string, node: NodeInfo, objectName: string, attribute = 'Count', everyMs = 1000): { stop(): Promise<Sample[]> } {
  if (node.jmxPort === undefined) throw new Error(`broker ${node.id} has no JMX port`);
  const child = spawnJava('org.apache.kafka.tools.JmxTool', [
    '--jmx-url', `service:jmx:rmi:///jndi/rmi://127.0.0.1:${node.jmxPort}/jmxrmi`,
    '--object-name', objectName, '--attributes', attribute, '--reporting-interval', String(everyMs), '--wait',
  ], { classpath, heapMb: 64 });
  killWithOwner(child.pid!);
  const samples: Sample[] = [];
  // JmxTool's first column is the time of the reading (epoch ms): its output may reach us in bursts
  const start = Date.now();
  let pending = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => void (stderr = (stderr + c).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdout!.setEncoding('utf8').on('data', (c: string) => {
    pending += c;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      const fields = line.split(',');
      const at = Number(fields[0]);
      const value = Number(fields[fields.length - 1]);
      if (/^\d/.test(line) && Number.isFinite(at) && Number.isFinite(value)) samples.push({ seconds: (at - start) / 1000, value });
    }
  });
  return {
    stop: async () => {
      child.kill('SIGKILL');
      await exited;
      if (samples.length === 0) throw new Error(`JmxTool gave no samples of ${objectName}: ${stderr}`);
      return samples;
    },
  };
}
