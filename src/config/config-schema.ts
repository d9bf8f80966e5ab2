// The config file's JSON Schema (validated at start; unknown keys are errors, so a typo is caught).

const address = { type: 'string', pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^:\\s]+):[0-9]{1,5}$' } as const;

export const CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['listen', 'upstream'],
  properties: {
    listen: { ...address, description: 'host:port the proxy accepts clients on' },
    upstream: { ...address, description: "host:port of this sidecar's broker" },
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
        idleTimeoutMs: { type: 'integer', minimum: 1000, default: 600000 },
        maxInFlightPerConnection: { type: 'integer', minimum: 1, maximum: 10000, default: 1000 },
        maxRewriteFrameBytes: { type: 'integer', minimum: 65536, default: 16777216 },
        shutdownGraceMs: { type: 'integer', minimum: 0, default: 10000 },
      },
    },
    metrics: { ...address, default: '127.0.0.1:9644', description: 'host:port of /metrics, /healthz and /readyz' },
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
  },
} as const;
