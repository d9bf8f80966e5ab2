// The config file's JSON Schema (validated at start; unknown keys are errors, so a typo is caught).
import { QUOTA_KINDS } from '../quota/quota-kinds.js';
// Node's timers take at most this (a longer delay fires after 1 ms): the most any *Ms setting can be
import { MAX_TIMER_MS } from '../proxy/deadline-timer.js';

const address = { type: 'string', pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^:\\s]+):[0-9]{1,5}$' } as const;

const file = { type: 'string', minLength: 1 } as const;
const protocols = {
  type: 'array', minItems: 1, uniqueItems: true, items: { enum: ['TLSv1.2', 'TLSv1.3'] },
  description: "ssl.enabled.protocols: TLS versions offered (default both; Node's TLS has no gaps: the lowest to the highest)",
} as const;
const cipherSuites = {
  type: 'array', items: { type: 'string', minLength: 1 },
  description: "ssl.cipher.suites: IANA names as in Kafka (the TLS 1.2 ECDHE/DHE AEAD and SHA-2 suites) or OpenSSL's names; default: Node's",
} as const;
/** Own certificate and key (ssl.keystore.*, ssl.key.password) and trusted CAs (ssl.truststore.certificates). */
const keystore = {
  keystoreType: { enum: ['PEM', 'PKCS12'], description: 'ssl.keystore.type: PEM files (default) or a PKCS#12 file' },
  keystoreCertificateChain: { ...file, description: 'ssl.keystore.certificate.chain: PEM file, the certificate first, then its chain' },
  keystoreKey: { ...file, description: 'ssl.keystore.key: PEM file of the private key (PKCS#8 or PKCS#1; encrypted with keyPassword)' },
  keyPassword: { type: 'string', description: 'ssl.key.password: of an encrypted PEM key' },
  keystoreLocation: { ...file, description: 'ssl.keystore.location: the PKCS#12 file (keystoreType: PKCS12)' },
  keystorePassword: { type: 'string', description: 'ssl.keystore.password: of the PKCS#12 file' },
  truststoreCertificates: { ...file, description: "ssl.truststore.certificates: PEM file of the CAs trusted (default: Node's bundled CAs)" },
  enabledProtocols: protocols,
  cipherSuites,
} as const;

/** listen and upstream: host:port, or {address, tls, ...more} with these TLS settings. */
const endpoint = <T extends object, M extends object>(description: string, tls: { description: string; properties: T }, more: M) => ({
  description,
  anyOf: [address, { type: 'object', additionalProperties: false, required: ['address'], properties: { address, tls: { type: 'object', additionalProperties: false, ...tls }, ...more } }],
}) as const;

export const CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['listen', 'upstream'],
  properties: {
    listen: endpoint('host:port the proxy accepts clients on; or {address, tls} for a TLS listener', {
      description: "TLS termination, in Kafka's ssl.* terms (certificates re-read on reload)",
      properties: {
        ...keystore,
        securityProtocol: { enum: ['SSL', 'SASL_SSL'], description: "security.protocol of the listener the sidecar stands for (default SSL): on SASL_SSL the principal comes from SASL only, the certificate's name is not mapped or counted" },
        clientAuth: { enum: ['none', 'requested', 'required'], description: 'ssl.client.auth (default none)' },
        principalMappingRules: { type: 'string', description: 'ssl.principal.mapping.rules: client certificate subject DN to user (default DEFAULT: the DN itself)' },
        handshakeTimeoutMs: { type: 'integer', minimum: 100, maximum: MAX_TIMER_MS, description: 'a client that has not completed its handshake by then is closed (default 10000; not a Kafka setting)' },
      },
    }, {}),
    upstream: endpoint("host:port of this sidecar's broker; or {address, tls, sasl} when the broker only offers TLS, or SASL", {
      description: "TLS to the broker, its certificate verified against truststoreCertificates, in Kafka's ssl.* terms",
      properties: {
        ...keystore,
        endpointIdentificationAlgorithm: { enum: ['https', ''], description: "ssl.endpoint.identification.algorithm: https (default) checks the broker's host name; empty does not" },
        serverName: { type: 'string', minLength: 1, description: "the name sent as SNI and checked against the broker's certificate (default: the address's host)" },
      },
    }, {
      sasl: {
        type: 'object',
        additionalProperties: false,
        required: ['mechanism', 'username'],
        description: "the sidecar's own SASL login, when upstream is a SASL listener: its coordination client's and its Metadata lookups' (give exactly one of passwordFile and passwordEnv)",
        properties: {
          mechanism: { enum: ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'], description: "Kafka's sasl.mechanism" },
          username: { type: 'string', minLength: 1 },
          passwordFile: { type: 'string', minLength: 1, description: 'a file holding the password (a mounted Secret); one trailing newline is ignored' },
          passwordEnv: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'an environment variable holding the password' },
        },
      },
    }),
    advertise: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        mode: { enum: ['none', 'map', 'pattern'], default: 'none' },
        map: { type: 'object', propertyNames: { pattern: '^[0-9]+$' }, additionalProperties: address },
        pattern: { type: 'string', pattern: '\\{nodeId\\}' },
      },
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        maxFrameBytes: { type: 'integer', minimum: 1024, maximum: 2147483647, default: 104857600 },
        maxConnections: { type: 'integer', minimum: 1, default: 10000 },
        idleTimeoutMs: { type: 'integer', minimum: 1000, maximum: MAX_TIMER_MS, default: 600000 },
        maxInFlightPerConnection: { type: 'integer', minimum: 1, maximum: 10000, default: 1000 },
        maxRewriteFrameBytes: { type: 'integer', minimum: 65536, default: 16777216 },
        shutdownGraceMs: { type: 'integer', minimum: 0, maximum: MAX_TIMER_MS, default: 10000 },
      },
    },
    connections: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: "Connection storms: Kafka's max.connections.per.ip (and overrides) and KIP-612's per-IP creation rate",
      properties: {
        maxPerIp: { type: 'integer', minimum: 1, default: 2000, description: 'open connections from one source address' },
        maxPerIpOverrides: {
          type: 'object', default: {}, description: 'CIDR → open connections from each address in it (the first match wins)',
          propertyNames: { pattern: '^[0-9a-fA-F:.]+/[0-9]{1,3}$' }, additionalProperties: { type: 'integer', minimum: 1 },
        },
        creationRatePerIp: { type: 'number', exclusiveMinimum: 0, default: 500, description: 'new connections per second from one address' },
        creationBurstPerIp: { type: 'number', minimum: 1, default: 1000, description: 'new connections from one address at once' },
        maxWaiting: { type: 'integer', minimum: 0, default: 1000, description: 'connections waiting (unread, no broker connection) for the rate' },
        maxPerPrincipal: { type: 'integer', minimum: 1, default: 5000, description: 'open connections of one principal (SASL, or a TLS client certificate)' },
        rateTableCapacity: { type: 'integer', minimum: 1, maximum: 10000000, default: 10000, description: 'addresses whose creation rate is tracked (least recently used reused)' },
      },
    },
    metrics: { ...address, default: '127.0.0.1:9644', description: 'host:port of /metrics, /healthz and /readyz' },
    tenants: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: "How a request's quota entity (user, client-id) is found, in Kafka's terms",
      properties: {
        user: { enum: ['sasl', 'address', 'none'], default: 'sasl' },
        addresses: {
          type: 'object',
          description: 'user name → CIDR list (user: address)',
          propertyNames: { minLength: 1, maxLength: 128 },
          additionalProperties: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^[0-9a-fA-F:.]+/[0-9]{1,3}$' } },
        },
        clientIdPattern: { type: 'string', minLength: 1, description: 'regular expression with a named group "tenant"' },
        oauthbearerSubClaim: {
          type: 'string', minLength: 1, maxLength: 256, default: 'sub',
          description: "the JWT claim an OAUTHBEARER login's user is read from: the broker's sasl.oauthbearer.sub.claim.name (unsecuredValidatorPrincipalClaimName for its unsecured validator)",
        },
      },
    },
    quotas: {
      type: 'array',
      default: [],
      maxItems: 100000,
      items: {
        type: 'object',
        additionalProperties: false,
        properties: {
          user: { type: 'string', minLength: 1, maxLength: 256 },
          clientId: { type: 'string', minLength: 1, maxLength: 256 },
          scope: {
            enum: ['broker', 'cluster'], default: 'broker',
            description: "broker: the rate is this sidecar's broker's (Kafka's per-broker quotas); cluster: the tenant's total across all sidecars of the cluster (see coordination)",
          },
          mode: {
            enum: ['enforce', 'shadow'], default: 'enforce',
            description: 'shadow: measured and metered as if enforced (kqp_tenant_would_throttle_seconds_total), but nobody is throttled',
          },
          ...Object.fromEntries(QUOTA_KINDS.flatMap((k) => [
            [k.rateSetting, { type: 'number', exclusiveMinimum: 0, description: `${k.charged} per second` }],
            [k.burstSetting, { type: 'number', exclusiveMinimum: 0, description: `${k.unit} that may be used at once (default: 1 s of ${k.rateSetting})` }],
          ])),
        },
      },
    },
    brokerBudget: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'What the broker takes from all tenants together, paid before forwarding (each off unless set)',
      properties: {
        groupJoinsPerSec: { type: 'number', exclusiveMinimum: 0, description: 'members joining consumer groups (and groups deleted) per second, all tenants' },
        groupJoinBurst: { type: 'number', minimum: 1, description: 'joins at once (default: 1 s of groupJoinsPerSec, at least 1)' },
        partitionMutationsPerSec: { type: 'number', exclusiveMinimum: 0, description: 'partitions created and deleted per second, all tenants (below the rate the broker creates logs at)' },
        partitionMutationBurst: { type: 'number', minimum: 1, description: 'partitions at once (default: 1 s of partitionMutationsPerSec, at least 1)' },
      },
    },
    admin: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Controller-bound admin requests (CreateTopics, DeleteTopics, AlterConfigs, ...): an admission gate for the whole sidecar',
      properties: {
        maxInFlight: { type: 'integer', minimum: 1, default: 5, description: 'of them at the broker at once, all tenants; the rest wait, their clients not read, served fairly across tenants' },
        maxWaitMs: {
          type: 'integer', minimum: 100, maximum: MAX_TIMER_MS, default: 20000,
          description: 'longest wait for the gate; then the proxy answers REQUEST_TIMED_OUT (below the clients\' request.timeout.ms, 30 s by default)',
        },
        holdUntilAppliedMs: {
          type: 'integer', minimum: 0, maximum: MAX_TIMER_MS, default: 0,
          description: 'a CreateTopics, CreatePartitions or DeleteTopics keeps its gate place after its response until the broker shows the change in its Metadata (it has applied it), for this long at most; 0: off',
        },
        defaultPartitions: {
          type: 'integer', minimum: 1, default: 1,
          description: "the brokers' num.partitions, charged for a topic created with the default count until a CreateTopics response shows the broker's",
        },
        topicCacheCapacity: { type: 'integer', minimum: 1, maximum: 10000000, default: 10000, description: 'topics whose partition count, and whose turn under the partition-mutation quota, the sidecar remembers (oldest forgotten first)' },
      },
    },
    quotaTable: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        capacity: { type: 'integer', minimum: 1, maximum: 10000000, default: 10000 },
        maxKeyLength: { type: 'integer', minimum: 32, maximum: 4096, default: 256 },
        newBucketShare: {
          type: 'number', minimum: 0, maximum: 1, default: 0.1,
          description: 'share of its burst a bucket starts with when a tenant is new (or comes back after eviction)',
        },
      },
    },
    coordination: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Cluster-scoped quotas (scope: cluster): the sidecars share each such quota through a compacted topic on the cluster',
      properties: {
        topic: { type: 'string', pattern: '^[a-zA-Z0-9._-]{1,249}$', default: 'kqp-quota-coordination', description: 'compacted topic the sidecars publish their demands to (created if missing)' },
        intervalMs: { type: 'integer', minimum: 100, maximum: 60000, default: 1000, description: 'how often each sidecar publishes and recomputes its shares' },
        staleAfterMs: {
          type: 'integer', minimum: 200, maximum: MAX_TIMER_MS, default: 5000,
          description: 'without its own report read back for this long, a sidecar serves the static share (quota ÷ brokers in the metadata); a sidecar silent this long is reserved that static share',
        },
        forgetAfterMs: { type: 'integer', minimum: 1000, maximum: MAX_TIMER_MS, default: 60000, description: "a sidecar silent this long is forgotten (its state dropped; its broker's static share stays reserved while the broker is in the metadata)" },
        maxSidecars: { type: 'integer', minimum: 1, maximum: 1000, default: 16, description: "sidecars whose reports are kept (each up to quotaTable.capacity entries); more are ignored" },
        floorShare: {
          type: 'number', exclusiveMinimum: 0, maximum: 0.5, default: 0.02,
          description: "share of each cluster quota split evenly among the sidecars before the rest follows demand: what a sidecar with no recent demand serves at once",
        },
        sidecarId: { type: 'string', minLength: 1, maxLength: 256, description: "this sidecar's name in the topic, one per sidecar (default: this machine's host name/the upstream host:port)" },
      },
    },
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
    enforce: {
      type: 'boolean', default: true,
      description: 'false: every quota in shadow mode (measured as if enforced, nobody throttled); brokerBudget, admin and connections still apply',
    },
    reload: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Live reconfiguration: SIGHUP re-reads this file; with watch, so does a change of it',
      properties: {
        watch: { type: 'boolean', default: false, description: "Re-read the file when it changes (an editor's rename-over included)" },
      },
    },
  },
} as const;
