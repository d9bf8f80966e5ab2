// Which response versions a Kafka 4.4 client backs off for by itself (KIP-219), from kafka-clients 4.4.0: the
// responses that override shouldClientThrottle keep their thresholds; every other API backs off wherever its response
// has throttle_time_ms (AbstractResponse.shouldClientThrottle reads the response schema in 4.4).
import t from 'tap';
import { clientBacksOff } from '../../src/quota/client-backoff.js';
import { ApiKey } from '../../src/protocol/generated/api-table.js';

t.test('overrides keep their thresholds', async (t) => {
  for (const [key, first, name] of [[ApiKey.Produce, 6, 'Produce'], [ApiKey.Fetch, 8, 'Fetch'], [ApiKey.Metadata, 6, 'Metadata'], [ApiKey.CreateTopics, 3, 'CreateTopics']] as const) {
    t.notOk(clientBacksOff(key, first - 1), `${name} v${first - 1}: no`);
    t.ok(clientBacksOff(key, first), `${name} v${first}: yes`);
  }
});

t.test('every other API backs off wherever its response carries throttle_time_ms (4.4\'s default)', async (t) => {
  for (const [key, version, name] of [
    [ApiKey.ConsumerGroupHeartbeat, 0, 'ConsumerGroupHeartbeat'], [ApiKey.ShareGroupHeartbeat, 1, 'ShareGroupHeartbeat'],
    [ApiKey.StreamsGroupHeartbeat, 0, 'StreamsGroupHeartbeat'], [ApiKey.ShareFetch, 1, 'ShareFetch'], [ApiKey.ShareAcknowledge, 1, 'ShareAcknowledge'],
    [ApiKey.OffsetForLeaderEpoch, 2, 'OffsetForLeaderEpoch'], [ApiKey.DescribeCluster, 0, 'DescribeCluster'], [ApiKey.DescribeClientQuotas, 0, 'DescribeClientQuotas'],
  ] as const) {
    t.ok(clientBacksOff(key, version), `${name} v${version}: yes`);
  }
  // responses without the field (SaslHandshake has none in any version): never
  t.notOk(clientBacksOff(ApiKey.SaslHandshake, 1), 'SaslHandshake: no');
  t.notOk(clientBacksOff(ApiKey.OffsetForLeaderEpoch, 1), 'OffsetForLeaderEpoch v1 (no throttle_time_ms): no');
  t.notOk(clientBacksOff(9999, 0), 'an API this build does not know: no');
});
