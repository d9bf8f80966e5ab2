// Issue 11's admin storm, as one program (test/support/admin-storm.ts compiles it against the cached Kafka jars and
// runs it). For --duration seconds, concurrently, each role with its own bootstrap servers:
//   admin     --admin-workers AdminClients (client.id PREFIX-N, or PREFIX for all), each looping createTopics(one topic
//             of --partitions partitions, replication factor 1) then deleteTopics(it)
//   groups    --group-workers workers, each looping: a KafkaConsumer with a new group.id subscribes to --group-topic,
//             polls until it is assigned (JoinGroup and SyncGroup done), closes
//   quiet     one AdminClient and one producer creating a 1-partition topic every --quiet-interval-ms and producing one
//             record to it (acks=all)
//   producer  --producer-rate records/s of --producer-record-size bytes, acks=all, to --producer-topic
// The storm roles (admin, groups) stop starting calls at --duration; quiet and producer go on for --watch seconds more
// (what they see while the broker catches up). Calls running when their role stops are awaited (at most --await
// seconds; the clients' own timeouts end them before that) and reported as the role's `tail`.
// With --begin-at (epoch ms), everything is timed from then, so that two of these programs (the storm in one JVM, the
// tenants in another, so that neither's garbage collections are the other's latency) start their storm together: the
// roles connect first and wait for it, except the producer, whose records before it are its warm-up (reported apart).
// Output: one JSON line per role on stdout at the end; progress every 10 s on stderr, prefixed [AdminStorm].
// Every call's latency counts, failed calls' too (a call that timed out after 60 s is 60 s of waiting).
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class AdminStorm {
  static final long NS = 1_000_000_000L;

  // ---------------------------------------------------------------------------------------------------- options
  static final Map<String, String> OPTS = new HashMap<>();

  static String str(String name, String def) {
    return OPTS.getOrDefault(name, def);
  }

  static int num(String name, int def) {
    return OPTS.containsKey(name) ? Integer.parseInt(OPTS.get(name)) : def;
  }

  // ---------------------------------------------------------------------------------------------------- recording
  /** Calls of one kind in one window: outcomes, failures by exception class, latencies (µs) of every completed call. */
  static final class Stats {
    private long[] micros = new long[1024];
    private int n;
    private long ok;
    private final Map<String, Long> failures = new TreeMap<>();

    synchronized void ok(long us) {
      add(us);
      ok++;
    }

    synchronized void fail(Throwable t, long us) {
      add(us);
      failures.merge(name(t), 1L, Long::sum);
    }

    private void add(long us) {
      if (n == micros.length) micros = Arrays.copyOf(micros, n * 2);
      micros[n++] = us;
    }

    synchronized long calls() {
      return n;
    }

    synchronized long failed() {
      return n - ok;
    }

    synchronized String json() {
      long[] s = Arrays.copyOf(micros, n);
      Arrays.sort(s);
      StringBuilder b = new StringBuilder();
      b.append("{\"calls\":").append(n).append(",\"ok\":").append(ok).append(",\"failed\":").append(n - ok);
      b.append(",\"failures\":{");
      boolean first = true;
      for (Map.Entry<String, Long> e : failures.entrySet()) {
        if (!first) b.append(',');
        first = false;
        b.append(quote(e.getKey())).append(':').append(e.getValue());
      }
      b.append("},\"p50Ms\":").append(n == 0 ? "null" : ms(pct(s, 50))).append(",\"p99Ms\":").append(n == 0 ? "null" : ms(pct(s, 99)));
      b.append(",\"maxMs\":").append(n == 0 ? "null" : ms(s[n - 1])).append('}');
      return b.toString();
    }

    /** p99 of the calls since the last call of this method (for progress lines), in ms. */
    private int seen;

    synchronized String recentP99() {
      if (n == seen) return "-";
      long[] s = Arrays.copyOfRange(micros, seen, n);
      seen = n;
      Arrays.sort(s);
      return ms(pct(s, 99));
    }
  }

  /** Nearest-rank percentile of sorted values. */
  static long pct(long[] sorted, int p) {
    if (sorted.length == 0) return 0;
    int i = (int) Math.ceil(p / 100.0 * sorted.length) - 1;
    return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
  }

  static String ms(long us) {
    return String.format(Locale.ROOT, "%.1f", us / 1000.0);
  }

  static String quote(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') b.append('\\').append(c);
      else if (c < 0x20) b.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
      else b.append(c);
    }
    return b.append('"').toString();
  }

  /** The failure's name: the exception class a client sees (ExecutionException unwrapped). */
  static String name(Throwable t) {
    while (t instanceof ExecutionException && t.getCause() != null) t = t.getCause();
    return t.getClass().getSimpleName();
  }

  static Throwable unwrap(Throwable t) {
    while (t instanceof ExecutionException && t.getCause() != null) t = t.getCause();
    return t;
  }

  /** Our own wait for a call ran out (the call itself goes on): not one of the client's exceptions. */
  static final class Unfinished extends Exception {
    private static final long serialVersionUID = 1L;

    Unfinished() {
      super("still running when the program stopped waiting", null, false, false);
    }
  }

  /** A consumer that was not assigned its partitions within --join-timeout-ms. */
  static final class JoinTimeout extends Exception {
    private static final long serialVersionUID = 1L;

    JoinTimeout() {
      super("not assigned in time", null, false, false);
    }
  }

  /** Waits for a future until `until` (nanoTime); returns null on success, else what failed (Unfinished if it runs on). */
  static Throwable await(KafkaFuture<?> f, long until) {
    try {
      f.get(Math.max(1, until - System.nanoTime()), TimeUnit.NANOSECONDS);
      return null;
    } catch (java.util.concurrent.TimeoutException e) {
      return new Unfinished();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return e;
    } catch (ExecutionException e) {
      return unwrap(e);
    } catch (RuntimeException e) {
      return e;
    }
  }

  static long us(long fromNs) {
    return (System.nanoTime() - fromNs) / 1000;
  }

  // ---------------------------------------------------------------------------------------------------- the run
  static long start; // the storm's start (--begin-at): roles wait for it; the producer's records before it are its warm-up
  static long stormEnd; // admin and group workers start no call after this
  static long watchEnd; // quiet and producer stop here
  static long awaitNs; // how long calls running at the end are awaited
  static volatile boolean stopping;

  static final Stats creates = new Stats();
  static final Stats deletes = new Stats();
  static final Stats adminTail = new Stats();
  static final AtomicInteger adminUnfinished = new AtomicInteger();
  static final AtomicInteger adminInFlight = new AtomicInteger();
  static AtomicLongArray acceptedMutations; // partitions created or deleted by successful calls, per second of the run

  static final Stats joins = new Stats();
  static final Stats groupTail = new Stats();
  static final AtomicInteger groupUnfinished = new AtomicInteger();

  static final Stats quietCreate = new Stats();
  static final Stats quietEndToEnd = new Stats();
  static final Stats quietCreateAfter = new Stats();
  static final Stats quietEndToEndAfter = new Stats();
  static final AtomicInteger quietUnfinished = new AtomicInteger();

  static final Stats producedWarmup = new Stats();
  static final Stats produced = new Stats();
  static final Stats producedAfter = new Stats();
  static final AtomicLong producerLagged = new AtomicLong();
  static volatile long producerStartedAtMs = -1; // when its first send went out, since the start

  static void mutations(long atNs, int partitions) {
    int second = (int) Math.min(acceptedMutations.length() - 1, Math.max(0, (atNs - start) / NS));
    acceptedMutations.addAndGet(second, partitions);
  }

  static Properties common(String bootstrap, String clientId) {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(AdminClientConfig.CLIENT_ID_CONFIG, clientId);
    return p;
  }

  /** Waits for the start of the storm (--begin-at). */
  static void waitForStart() {
    for (long wait; (wait = start - System.nanoTime()) > 0; ) LockSupport.parkNanos(wait);
  }

  static void adminWorker(String bootstrap, String clientId, String topicPrefix, int partitions) {
    try (Admin admin = Admin.create(common(bootstrap, clientId))) {
      waitForStart();
      int seq = 0;
      while (!stopping && System.nanoTime() < stormEnd) {
        String topic = topicPrefix + "-" + seq++;
        long t0 = System.nanoTime();
        adminInFlight.incrementAndGet();
        Throwable err = await(admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all(), stormEnd + awaitNs);
        adminInFlight.decrementAndGet();
        if (record(creates, t0, err)) return;
        if (err == null) mutations(System.nanoTime(), partitions);
        // a topic whose creation timed out may exist; one that was refused does not
        boolean mayExist = err == null || err instanceof org.apache.kafka.common.errors.TimeoutException
            || err instanceof org.apache.kafka.common.errors.TopicExistsException;
        if (!mayExist) continue;
        long t1 = System.nanoTime();
        adminInFlight.incrementAndGet();
        err = await(admin.deleteTopics(List.of(topic)).all(), Math.max(stormEnd, t1) + awaitNs);
        adminInFlight.decrementAndGet();
        if (record(deletes, t1, err)) return;
        if (err == null) mutations(System.nanoTime(), partitions);
      }
    } catch (RuntimeException e) {
      System.err.println("[AdminStorm] admin worker " + clientId + " stopped: " + e);
    }
  }

  /** Records a storm call; true when the worker must stop (its call is still running after the wait). */
  static boolean record(Stats stats, long t0, Throwable err) {
    long latency = us(t0);
    boolean tail = System.nanoTime() >= stormEnd;
    if (err == null) stats.ok(latency);
    else stats.fail(err, latency);
    if (tail) {
      if (err == null) adminTail.ok(latency);
      else adminTail.fail(err, latency);
    }
    if (err instanceof Unfinished) {
      adminUnfinished.incrementAndGet();
      return true;
    }
    return false;
  }

  static void groupWorker(String bootstrap, String clientId, String groupPrefix, String topic, String protocol, long joinTimeoutNs) {
    waitForStart();
    int seq = 0;
    while (!stopping && System.nanoTime() < stormEnd) {
      Properties p = common(bootstrap, clientId);
      p.put(ConsumerConfig.GROUP_ID_CONFIG, groupPrefix + "-" + seq++);
      p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol);
      p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
      p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
      p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
      p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "latest");
      KafkaConsumer<byte[], byte[]> consumer;
      try {
        consumer = new KafkaConsumer<>(p);
      } catch (RuntimeException e) {
        System.err.println("[AdminStorm] group worker " + clientId + " stopped: " + e);
        return;
      }
      final long[] assignedAt = {0};
      long t0 = System.nanoTime();
      Throwable err = null;
      try {
        consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
          @Override
          public void onPartitionsRevoked(java.util.Collection<TopicPartition> partitions) {}

          @Override
          public void onPartitionsAssigned(java.util.Collection<TopicPartition> partitions) {
            if (assignedAt[0] == 0) assignedAt[0] = System.nanoTime();
          }
        });
        long until = Math.min(t0 + joinTimeoutNs, stormEnd + awaitNs);
        while (assignedAt[0] == 0 && System.nanoTime() < until) consumer.poll(Duration.ofMillis(100));
        if (assignedAt[0] == 0) err = System.nanoTime() >= stormEnd + awaitNs ? new Unfinished() : new JoinTimeout();
      } catch (RuntimeException e) {
        err = e;
      }
      long latency = ((assignedAt[0] != 0 ? assignedAt[0] : System.nanoTime()) - t0) / 1000;
      boolean tail = System.nanoTime() >= stormEnd;
      if (err == null) joins.ok(latency);
      else joins.fail(err, latency);
      if (tail) {
        if (err == null) groupTail.ok(latency);
        else groupTail.fail(err, latency);
      }
      try {
        consumer.close(CloseOptions.timeout(Duration.ofSeconds(5)));
      } catch (RuntimeException e) {
        // leaving the group failed: the group expires by itself
      }
      if (err instanceof Unfinished) {
        groupUnfinished.incrementAndGet();
        return;
      }
    }
  }

  static void quiet(String bootstrap, String clientId, String topicPrefix, int intervalMs, ThreadFactory threads) throws Exception {
    Properties pp = common(bootstrap, clientId + "-producer");
    pp.put(ProducerConfig.ACKS_CONFIG, "all");
    pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    ExecutorService calls = Executors.newCachedThreadPool(threads);
    try (Admin admin = Admin.create(common(bootstrap, clientId)); KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(pp)) {
      byte[] value = "quiet".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
      admin.describeCluster().nodes().get(60, TimeUnit.SECONDS); // connected before the first timed call
      waitForStart();
      long next = System.nanoTime();
      for (int seq = 0; !stopping && next < watchEnd; seq++, next += intervalMs * 1_000_000L) {
        long wait = next - System.nanoTime();
        if (wait > 0) LockSupport.parkNanos(wait);
        if (System.nanoTime() >= watchEnd) break;
        String topic = topicPrefix + "-" + seq;
        calls.execute(() -> {
          long t0 = System.nanoTime();
          boolean after = t0 >= stormEnd;
          Stats create = after ? quietCreateAfter : quietCreate;
          Stats e2e = after ? quietEndToEndAfter : quietEndToEnd;
          long until = Math.max(watchEnd, t0) + awaitNs;
          Throwable err = await(admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all(), until);
          if (err == null) create.ok(us(t0));
          else create.fail(err, us(t0));
          if (err instanceof Unfinished) quietUnfinished.incrementAndGet();
          if (err != null) return;
          try {
            producer.send(new ProducerRecord<>(topic, value)).get(Math.max(1, until - System.nanoTime()), TimeUnit.NANOSECONDS);
            e2e.ok(us(t0));
          } catch (java.util.concurrent.TimeoutException e) {
            e2e.fail(new Unfinished(), us(t0));
            quietUnfinished.incrementAndGet();
          } catch (InterruptedException e) {
            e2e.fail(e, us(t0));
          } catch (ExecutionException | RuntimeException e) {
            e2e.fail(unwrap(e), us(t0));
          }
        });
      }
      calls.shutdown();
      calls.awaitTermination(Math.max(0, watchEnd + awaitNs - System.nanoTime()) + NS, TimeUnit.NANOSECONDS);
      admin.close(Duration.ofSeconds(5));
      producer.close(Duration.ofSeconds(5));
    } finally {
      calls.shutdownNow();
    }
  }

  static void producer(String bootstrap, String clientId, String topic, int rate, int recordSize) {
    Properties p = common(bootstrap, clientId);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    byte[] value = new byte[recordSize];
    new java.util.Random(1).nextBytes(value);
    long interval = NS / rate;
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
      producer.partitionsFor(topic); // connected, with the topic's metadata, before the first timed send
      long next = System.nanoTime();
      producerStartedAtMs = (next - start) / 1_000_000;
      while (!stopping) {
        long now = System.nanoTime();
        if (now >= watchEnd) break;
        if (now < next) {
          LockSupport.parkNanos(next - now);
          continue;
        }
        if (now - next > NS) { // more than a second behind (a send blocked): start again from now, no burst
          producerLagged.incrementAndGet();
          next = now;
        }
        next += interval;
        final long t0 = System.nanoTime();
        final Stats window = t0 < start ? producedWarmup : t0 < stormEnd ? produced : producedAfter;
        try {
          producer.send(new ProducerRecord<>(topic, value), (md, ex) -> {
            if (ex == null) window.ok(us(t0));
            else window.fail(ex, us(t0));
          });
        } catch (RuntimeException e) {
          window.fail(e, us(t0));
        }
      }
      producer.close(Duration.ofMillis(Math.max(1000, awaitNs / 1_000_000)));
    } catch (RuntimeException e) {
      System.err.println("[AdminStorm] producer stopped: " + e);
    }
  }

  // ---------------------------------------------------------------------------------------------------- main
  public static void main(String[] args) throws Exception {
    for (int i = 0; i + 1 < args.length; i += 2) {
      if (!args[i].startsWith("--")) throw new IllegalArgumentException("expected --name value, got " + args[i]);
      OPTS.put(args[i].substring(2), args[i + 1]);
    }
    int duration = num("duration", 60);
    int watch = num("watch", 0);
    int awaitSec = num("await", 120);
    String nonce = str("nonce", Long.toHexString(System.nanoTime() & 0xffffffL));
    String adminBootstrap = OPTS.get("admin-bootstrap");
    String groupBootstrap = OPTS.get("group-bootstrap");
    String quietBootstrap = OPTS.get("quiet-bootstrap");
    String producerBootstrap = OPTS.get("producer-bootstrap");
    int adminWorkers = adminBootstrap == null ? 0 : num("admin-workers", 32);
    int groupWorkers = groupBootstrap == null ? 0 : num("group-workers", 16);
    int partitions = num("partitions", 200);

    AtomicInteger threadCount = new AtomicInteger();
    ThreadFactory threads = r -> {
      Thread t = new Thread(r, "storm-" + threadCount.incrementAndGet());
      t.setDaemon(true);
      return t;
    };
    long now = System.nanoTime();
    start = OPTS.containsKey("begin-at") ? now + (Long.parseLong(OPTS.get("begin-at")) - System.currentTimeMillis()) * 1_000_000L : now;
    stormEnd = start + duration * NS;
    watchEnd = stormEnd + watch * NS;
    awaitNs = awaitSec * NS;
    acceptedMutations = new AtomicLongArray(duration + watch + awaitSec + 10);

    List<Runnable> tasks = new ArrayList<>();
    String adminPrefix = str("admin-client-id", "storm-admin");
    boolean sharedId = str("admin-client-ids", "per-worker").equals("shared");
    String topicPrefix = str("topic-prefix", "storm-t") + "-" + nonce;
    for (int i = 0; i < adminWorkers; i++) {
      final int n = i;
      tasks.add(() -> adminWorker(adminBootstrap, sharedId ? adminPrefix : adminPrefix + "-" + n, topicPrefix + "-" + n, partitions));
    }
    String groupPrefix = str("group-client-id", "storm-group");
    String groupTopic = str("group-topic", "group-storm-source");
    String protocol = str("group-protocol", "classic");
    long joinTimeoutNs = num("join-timeout-ms", 120_000) * 1_000_000L;
    for (int i = 0; i < groupWorkers; i++) {
      final int n = i;
      tasks.add(() -> groupWorker(groupBootstrap, groupPrefix + "-" + n, str("group-prefix", "storm-g") + "-" + nonce + "-" + n, groupTopic, protocol, joinTimeoutNs));
    }
    if (quietBootstrap != null) {
      tasks.add(() -> {
        try {
          quiet(quietBootstrap, str("quiet-client-id", "quiet-admin"), str("quiet-topic-prefix", "quiet-t") + "-" + nonce,
              num("quiet-interval-ms", 1000), threads);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        } catch (Exception e) {
          System.err.println("[AdminStorm] quiet tenant stopped: " + e);
        }
      });
    }
    if (producerBootstrap != null) {
      tasks.add(() -> producer(producerBootstrap, str("producer-client-id", "well-behaved"), str("producer-topic", "well-behaved"),
          num("producer-rate", 1000), num("producer-record-size", 1024)));
    }
    if (tasks.isEmpty()) throw new IllegalArgumentException("no role: give --admin-bootstrap, --group-bootstrap, --quiet-bootstrap or --producer-bootstrap");

    ScheduledExecutorService progress = Executors.newSingleThreadScheduledExecutor(threads);
    progress.scheduleAtFixedRate(() -> System.err.println(progressLine(adminBootstrap != null, groupBootstrap != null,
        quietBootstrap != null, producerBootstrap != null)), 10, 10, TimeUnit.SECONDS);
    ExecutorService pool = Executors.newFixedThreadPool(tasks.size(), threads);
    for (Runnable t : tasks) pool.execute(t);
    pool.shutdown();
    long end = Math.max(stormEnd, watchEnd) + awaitNs + 30 * NS;
    if (!pool.awaitTermination(Math.max(1, end - System.nanoTime()), TimeUnit.NANOSECONDS)) {
      System.err.println("[AdminStorm] workers still running " + (end - start) / NS + " s after the start: stopping them");
      stopping = true;
    }
    progress.shutdownNow();

    if (adminBootstrap != null) {
      long max = 0;
      StringBuilder perSec = new StringBuilder();
      int last = acceptedMutations.length() - 1;
      while (last > 0 && acceptedMutations.get(last) == 0) last--;
      for (int i = 0; i <= last; i++) {
        if (i > 0) perSec.append(',');
        perSec.append(acceptedMutations.get(i));
        max = Math.max(max, acceptedMutations.get(i));
      }
      System.out.println("{\"role\":\"admin\",\"workers\":" + adminWorkers + ",\"partitions\":" + partitions
          + ",\"create\":" + creates.json() + ",\"delete\":" + deletes.json() + ",\"tail\":" + adminTail.json()
          + ",\"unfinished\":" + adminUnfinished.get() + ",\"callsFailed\":" + (creates.failed() + deletes.failed())
          + ",\"acceptedMutationsPerSecMax\":" + max + ",\"acceptedMutationsPerSec\":[" + perSec + "]}");
    }
    if (groupBootstrap != null) {
      System.out.println("{\"role\":\"groups\",\"workers\":" + groupWorkers + ",\"joins\":" + joins.json()
          + ",\"tail\":" + groupTail.json() + ",\"unfinished\":" + groupUnfinished.get() + "}");
    }
    if (quietBootstrap != null) {
      System.out.println("{\"role\":\"quiet\",\"create\":" + quietCreate.json() + ",\"endToEnd\":" + quietEndToEnd.json()
          + ",\"createAfter\":" + quietCreateAfter.json() + ",\"endToEndAfter\":" + quietEndToEndAfter.json()
          + ",\"unfinished\":" + quietUnfinished.get() + "}");
    }
    if (producerBootstrap != null) {
      System.out.println("{\"role\":\"producer\",\"rate\":" + num("producer-rate", 1000) + ",\"recordSize\":"
          + num("producer-record-size", 1024) + ",\"warmup\":" + producedWarmup.json() + ",\"during\":" + produced.json() + ",\"after\":" + producedAfter.json()
          + ",\"lagged\":" + producerLagged.get() + ",\"startedAtMs\":" + producerStartedAtMs + "}");
    }
    long gcMs = 0;
    for (java.lang.management.GarbageCollectorMXBean gc : java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()) {
      gcMs += Math.max(0, gc.getCollectionTime());
    }
    long cpuNs = java.lang.management.ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os
        ? os.getProcessCpuTime() : -1;
    System.out.println("{\"role\":\"jvm\",\"cpuSeconds\":" + String.format(Locale.ROOT, "%.2f", cpuNs / 1e9)
        + ",\"gcSeconds\":" + String.format(Locale.ROOT, "%.2f", gcMs / 1e3) + "}");
    System.out.flush();
    System.exit(0); // client threads that did not close in time must not keep the JVM alive
  }

  static String progressLine(boolean admin, boolean groups, boolean quiet, boolean producer) {
    StringBuilder b = new StringBuilder("[AdminStorm] ").append((System.nanoTime() - start) / NS).append(" s:");
    if (admin) {
      b.append(" creates ").append(creates.calls()).append(" (").append(creates.failed()).append(" failed, p99 ")
          .append(creates.recentP99()).append(" ms), deletes ").append(deletes.calls()).append(" (").append(deletes.failed())
          .append(" failed), in flight ").append(adminInFlight.get()).append(';');
    }
    if (groups) b.append(" joins ").append(joins.calls()).append(" (").append(joins.failed()).append(" failed, p99 ").append(joins.recentP99()).append(" ms);");
    if (quiet) {
      b.append(" quiet creates ").append(quietCreate.calls() + quietCreateAfter.calls()).append(" (p99 ")
          .append(quietCreate.recentP99()).append('/').append(quietCreateAfter.recentP99()).append(" ms);");
    }
    if (producer) {
      b.append(" producer acked ").append(produced.calls() + producedAfter.calls()).append(" (")
          .append(produced.failed() + producedAfter.failed()).append(" failed, p99 ").append(produced.recentP99()).append('/')
          .append(producedAfter.recentP99()).append(" ms)");
    }
    return b.toString();
  }
}
