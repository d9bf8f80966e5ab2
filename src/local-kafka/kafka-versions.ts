// What differs between the Kafka releases the local cluster can run (KRaft, combined broker+controller nodes): their
// logging, the extra jars that logging needs, broker settings that a release lacks or needs, and tool main classes
// that moved. Each release line here was started and served real clients through the sidecar (test/compat/).
export interface KafkaLine {
  /** major.minor */
  line: string;
  /**
   * 1: log4j 1 properties, read by reload4j (kafka_2.13 3.x brings reload4j and slf4j-reload4j itself);
   * 2: log4j2 properties (Kafka 4.0 moved to log4j2; kafka_2.13 4.x brings only slf4j-api, so the binding is added).
   */
  log4j: 1 | 2;
  /** Artifacts fetched beside the broker, tools and clients: the slf4j → log4j2 binding where the broker lacks one. */
  extraArtifacts: readonly Artifact[];
  /** ConfigCommand's main class: kafka.admin (Scala, core) until it moved to the tools module. */
  configCommand: string;
  /** Broker settings this line needs on top of the common ones. */
  brokerConfig: Record<string, string | number | boolean>;
  /** Whether it has the share coordinator (KIP-932; its settings are unknown to older brokers). */
  shareGroups: boolean;
}

type Artifact = [group: string, artifact: string, version: string];

const LOG4J2_BINDING = (version: string): Artifact[] => [['org.apache.logging.log4j', 'log4j-slf4j-impl', version]];

const LINES: readonly KafkaLine[] = [
  {
    line: '3.7',
    log4j: 1,
    extraArtifacts: [],
    configCommand: 'kafka.admin.ConfigCommand',
    // KIP-848 is early access in 3.7: the consumer protocol is enabled by listing it, and its release notes ask for
    // KIP-890's transaction verification to be disabled with it ("not supported and must be disabled")
    brokerConfig: { 'group.coordinator.rebalance.protocols': 'classic,consumer', 'transaction.partition.verification.enable': false },
    shareGroups: false,
  },
  {
    line: '3.9',
    log4j: 1,
    extraArtifacts: [],
    configCommand: 'kafka.admin.ConfigCommand',
    // the consumer protocol is a preview in 3.9, off unless listed (Kafka 4.0 lists it by default)
    brokerConfig: { 'group.coordinator.rebalance.protocols': 'classic,consumer' },
    shareGroups: false,
  },
  {
    line: '4.0',
    log4j: 2,
    extraArtifacts: LOG4J2_BINDING('2.24.3'), // the log4j2 release Kafka 4.0.0 is built with
    configCommand: 'kafka.admin.ConfigCommand',
    brokerConfig: {},
    shareGroups: true,
  },
  {
    line: '4.4',
    log4j: 2,
    extraArtifacts: LOG4J2_BINDING('2.25.5'), // the log4j-core kafka_2.13 4.4.0 depends on
    configCommand: 'org.apache.kafka.tools.ConfigCommand',
    brokerConfig: {},
    shareGroups: true,
  },
];

/** The release lines that can be run, as "3.7.x, 3.9.x, ..." for messages. */
export const KNOWN_LINES = LINES.map((l) => `${l.line}.x`).join(', ');

/** The facts of a version's release line; throws for a version of a line not listed here. */
export function kafkaLine(version: string): KafkaLine {
  const m = /^(\d+)\.(\d+)\.\d+$/.exec(version);
  const line = m && LINES.find((l) => l.line === `${m[1]}.${m[2]}`);
  if (!line) throw new Error(`Kafka ${version}: not a version this harness knows how to run (${KNOWN_LINES})`);
  return line;
}
