// Clients that push (or pull) as hard as they can until stopped: the Java client, kafkajs and kcat. Each runs in its
// own process; stop() kills it.
import { spawn, type ChildProcess } from 'node:child_process';
import { spawnJava } from '../../src/local-kafka/java-tool.js';
import { killWithOwner } from '../../src/local-kafka/owner-watchdog.js';
import { propertiesFile } from './java-clients.js';

export type ClientKind = 'java' | 'kafkajs' | 'kcat';

export interface Load {
  stop(): Promise<void>;
}

function handle(child: ChildProcess, onStop?: () => void): Load {
  killWithOwner(child.pid!);
  child.on('error', () => undefined);
  return {
    stop: async () => {
      onStop?.();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('exit', resolve));
      }
    },
  };
}

function tsx(script: string, args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** Produces 1 KB records to `topic` as fast as the client can, with client id `clientId`. */
export function push(kind: ClientKind, o: { classpath: string; bootstrap: string; topic: string; clientId: string; extra?: Record<string, string> }): Load {
  if (kind === 'java') {
    const props = { 'bootstrap.servers': o.bootstrap, 'client.id': o.clientId, acks: '1', 'linger.ms': '10', 'batch.size': '131072', ...o.extra };
    return handle(spawnJava('org.apache.kafka.tools.ProducerPerformance',
      ['--topic', o.topic, '--num-records', '100000000', '--record-size', '1024', '--throughput', '-1',
        '--command-property', ...Object.entries(props).map(([k, v]) => `${k}=${v}`)],
      { classpath: o.classpath, heapMb: 384 }));
  }
  if (kind === 'kafkajs') return handle(tsx('test/support/kafkajs-push.ts', [o.bootstrap, o.topic, o.clientId]));
  // records come from `yes` in the same pipeline (not from this process, whose event loop may be measuring
  // latencies); kcat's queue is kept small so that, once the quota holds it back, nothing spins
  const config = { 'client.id': o.clientId, acks: '1', 'queue.buffering.max.kbytes': '32768', ...o.extra };
  const record = 'k'.repeat(1023);
  const kcat = ['kcat', '-P', '-b', o.bootstrap, '-t', o.topic, ...Object.entries(config).flatMap(([k, v]) => ['-X', `${k}=${v}`])];
  const child = spawn('sh', ['-c', `exec yes ${record} | exec ${kcat.map((a) => `'${a}'`).join(' ')}`], { stdio: 'ignore', detached: true });
  killWithOwner(child.pid!, { group: true });
  return {
    stop: async () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
      if (child.exitCode === null && child.signalCode === null) await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

/** Consumes `topic` from the beginning in `group` as fast as the client can, committing every 500 ms. */
export function pull(kind: ClientKind, o: { classpath: string; bootstrap: string; topic: string; group: string; clientId: string }): Load {
  if (kind === 'java') {
    const config = propertiesFile({ 'client.id': o.clientId, 'auto.commit.interval.ms': 500, 'auto.offset.reset': 'earliest' });
    return handle(spawnJava('org.apache.kafka.tools.ConsumerPerformance',
      ['--bootstrap-server', o.bootstrap, '--topic', o.topic, '--group', o.group, '--num-records', '100000000', '--timeout', '600000',
        '--command-config', config],
      { classpath: o.classpath, heapMb: 384 }));
  }
  if (kind === 'kafkajs') return handle(tsx('test/support/kafkajs-consume.ts', [o.bootstrap, o.topic, o.group, o.clientId]));
  return handle(spawn('kcat', ['-b', o.bootstrap, '-G', o.group, '-o', 'beginning', '-q', '-X', `client.id=${o.clientId}`,
    '-X', 'auto.commit.interval.ms=500', '-f', '', o.topic], { stdio: ['ignore', 'ignore', 'ignore'] }));
}
