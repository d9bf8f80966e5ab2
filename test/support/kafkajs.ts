// kafkajs clients for tests: quiet, and patient with clusters that have just started or just lost a broker (their
// metadata can say UNKNOWN_TOPIC_OR_PARTITION or LEADER_NOT_AVAILABLE for a few seconds).
import { Kafka, logLevel, type KafkaConfig } from 'kafkajs';

export function testKafka(brokers: string | string[], extra: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId: 'kqp-test',
    brokers: typeof brokers === 'string' ? brokers.split(',') : brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 12, initialRetryTime: 300, maxRetryTime: 5000 },
    ...extra,
  });
}
