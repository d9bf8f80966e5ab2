#!/usr/bin/python3
# The Python clients for the compatibility suite: confluent-kafka-python (librdkafka) and kafka-python, as Debian
# packages them (python3-confluent-kafka, python3-kafka; run with Debian's /usr/bin/python3). The same commands as
# compat-client.java and compat-kafkajs.ts, after the library's name (confluent | kafka-python):
#   produce BOOTSTRAP TOPIC CLIENT_ID plain|tx-commit|tx-abort   values on stdin, one per line; acks=all
#   consume BOOTSTRAP TOPIC GROUP CLIENT_ID COUNT                 prints values; stops 1 s after COUNT values
#   push BOOTSTRAP TOPIC CLIENT_ID                                1 KB records as fast as it can, until killed
#   pull BOOTSTRAP TOPIC GROUP CLIENT_ID                          reads from the beginning as fast as it can, until killed
import sys
import time

lib, mode, bootstrap, topic = sys.argv[1:5]
args = sys.argv[5:]
RECORD = b'p' * 1024


def consume_loop(poll, count):
    """Calls poll() (values of the records it got) until count values, then 1 s more; 90 s at most."""
    deadline = time.monotonic() + 90
    stop_at = None
    seen = 0
    out = []
    while time.monotonic() < deadline and (stop_at is None or time.monotonic() < stop_at):
        for value in poll():
            out.append(value)
            seen += 1
            if seen == count:
                stop_at = time.monotonic() + 1
    sys.stdout.write(''.join(v + '\n' for v in out))


if lib == 'confluent':
    from confluent_kafka import Consumer, Producer

    def producer(client_id, extra=None):
        return Producer({'bootstrap.servers': bootstrap, 'client.id': client_id, 'acks': 'all', **(extra or {})})

    def send(p, value, on_delivery=None):
        while True:
            try:
                p.produce(topic, value, on_delivery=on_delivery)
                return
            except BufferError:
                p.poll(0.05)

    def consumer(group, client_id):
        c = Consumer({'bootstrap.servers': bootstrap, 'group.id': group, 'client.id': client_id,
                      'auto.offset.reset': 'earliest', 'isolation.level': 'read_committed'})
        c.subscribe([topic])
        return c

    if mode == 'produce':
        client_id, how = args
        values = [line for line in sys.stdin.read().split('\n') if line]
        tx = how != 'plain'
        p = producer(client_id, {'transactional.id': f'{client_id}-{topic}'} if tx else None)
        failed = []
        delivered = []

        def on_delivery(err, msg):
            (failed if err else delivered).append(err)

        if tx:
            p.init_transactions(60)
            p.begin_transaction()
        for v in values:
            send(p, v.encode(), on_delivery)
        if p.flush(60) != 0:
            sys.exit(f'{len(p)} records not delivered after 60 s')
        if how == 'tx-commit':
            p.commit_transaction(60)
        elif how == 'tx-abort':
            p.abort_transaction(60)
        if failed or len(delivered) != len(values):
            sys.exit(f'{len(delivered)} of {len(values)} delivered; errors: {failed[:3]}')
        print(f'produced {len(values)}')
    elif mode == 'consume':
        group, client_id, count = args
        c = consumer(group, client_id)

        def poll():
            m = c.poll(0.2)
            if m is None:
                return []
            if m.error():
                sys.stderr.write(f'{m.error()}\n')
                return []
            return [m.value().decode()]

        consume_loop(poll, int(count))
        c.close()
    elif mode == 'push':
        (client_id,) = args
        p = producer(client_id, {'acks': '1', 'linger.ms': 5, 'batch.size': 16384})
        while True:
            send(p, RECORD)
            p.poll(0)
    elif mode == 'pull':
        group, client_id = args
        c = consumer(group, client_id)
        while True:
            c.consume(500, 1.0)
elif lib == 'kafka-python':
    from kafka import KafkaConsumer, KafkaProducer

    servers = bootstrap.split(',')
    # a client that sets no api_version probes the broker's when it is made, and gives up (NoBrokersAvailable: the
    # process ends) after api_version_auto_timeout_ms, 2 s by default: too short for a machine starting ten clients
    # and their JVMs at once
    probe = {'api_version_auto_timeout_ms': 30000}
    if mode == 'produce':
        client_id, how = args
        if how != 'plain':
            sys.exit('kafka-python has no transactions')
        values = [line for line in sys.stdin.read().split('\n') if line]
        p = KafkaProducer(bootstrap_servers=servers, client_id=client_id, acks='all', **probe)
        futures = [p.send(topic, v.encode()) for v in values]
        p.flush(60)
        for f in futures:
            f.get(60)
        p.close(10)
        print(f'produced {len(values)}')
    elif mode == 'consume':
        group, client_id, count = args
        c = KafkaConsumer(topic, bootstrap_servers=servers, group_id=group, client_id=client_id,
                          auto_offset_reset='earliest', **probe)

        def poll():
            return [r.value.decode() for rs in c.poll(200).values() for r in rs]

        consume_loop(poll, int(count))
        c.close()
    elif mode == 'push':
        (client_id,) = args
        p = KafkaProducer(bootstrap_servers=servers, client_id=client_id, acks=1, linger_ms=5, batch_size=16384, **probe)
        while True:
            p.send(topic, RECORD)
    elif mode == 'pull':
        group, client_id = args
        c = KafkaConsumer(topic, bootstrap_servers=servers, group_id=group, client_id=client_id,
                          auto_offset_reset='earliest', **probe)
        while True:
            c.poll(500)
else:
    sys.exit(f'unknown library {lib}')
