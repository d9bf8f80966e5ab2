// The Java client (kafka-clients of the cluster's own version) for the compatibility suite, run by the java launcher
// from this source file (no build step): the same commands as compat-client.py and compat-kafkajs.ts.
//   produce BOOTSTRAP TOPIC CLIENT_ID plain|tx-commit|tx-abort   values on stdin, one per line; acks=all
//   consume BOOTSTRAP TOPIC GROUP CLIENT_ID COUNT classic|consumer  prints values; read_committed; stops 1 s after
//                                                                    COUNT values (what comes meanwhile is printed too)
//   push BOOTSTRAP TOPIC CLIENT_ID          1 KB records (acks=1, 16 KB batches) as fast as it can, until killed
//   pull BOOTSTRAP TOPIC GROUP CLIENT_ID    reads from the beginning as fast as it can, until killed
// (The perf tools' options changed between versions; this uses only the client API, the same in every version.)
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.Future;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class CompatClient {
  public static void main(String[] a) throws Exception {
    switch (a[0]) {
      case "produce" -> produce(a[1], a[2], a[3], a[4]);
      case "consume" -> consume(a[1], a[2], a[3], a[4], Integer.parseInt(a[5]), a[6]);
      case "push" -> push(a[1], a[2], a[3]);
      default -> pull(a[1], a[2], a[3], a[4]);
    }
  }

  static void produce(String bootstrap, String topic, String clientId, String how) throws Exception {
    List<String> values = new ArrayList<>();
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String line; (line = in.readLine()) != null; ) if (!line.isEmpty()) values.add(line);
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("client.id", clientId);
    p.put("acks", "all");
    p.put("key.serializer", StringSerializer.class.getName());
    p.put("value.serializer", StringSerializer.class.getName());
    boolean tx = !how.equals("plain");
    if (tx) p.put("transactional.id", clientId + "-" + topic);
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
      if (tx) {
        producer.initTransactions();
        producer.beginTransaction();
      }
      List<Future<RecordMetadata>> acks = new ArrayList<>();
      for (String v : values) acks.add(producer.send(new ProducerRecord<>(topic, v)));
      producer.flush();
      for (Future<RecordMetadata> f : acks) f.get();
      if (how.equals("tx-commit")) producer.commitTransaction();
      else if (how.equals("tx-abort")) producer.abortTransaction();
    }
    System.out.println("produced " + values.size());
  }

  static void push(String bootstrap, String topic, String clientId) {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("client.id", clientId);
    p.put("acks", "1");
    p.put("linger.ms", "5");
    p.put("batch.size", "16384");
    p.put("key.serializer", StringSerializer.class.getName());
    p.put("value.serializer", StringSerializer.class.getName());
    String value = "j".repeat(1024);
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
      for (;;) producer.send(new ProducerRecord<>(topic, value));
    }
  }

  static void pull(String bootstrap, String topic, String group, String clientId) {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("group.id", group);
    p.put("client.id", clientId);
    p.put("auto.offset.reset", "earliest");
    p.put("key.deserializer", StringDeserializer.class.getName());
    p.put("value.deserializer", StringDeserializer.class.getName());
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p)) {
      consumer.subscribe(List.of(topic));
      for (;;) consumer.poll(Duration.ofMillis(500));
    }
  }

  static void consume(String bootstrap, String topic, String group, String clientId, int count, String protocol) {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("group.id", group);
    p.put("client.id", clientId);
    p.put("group.protocol", protocol);
    p.put("auto.offset.reset", "earliest");
    p.put("isolation.level", "read_committed");
    p.put("key.deserializer", StringDeserializer.class.getName());
    p.put("value.deserializer", StringDeserializer.class.getName());
    long deadline = System.currentTimeMillis() + 90_000;
    long stopAt = Long.MAX_VALUE;
    int seen = 0;
    StringBuilder out = new StringBuilder();
    try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p)) {
      consumer.subscribe(List.of(topic));
      while (System.currentTimeMillis() < Math.min(deadline, stopAt)) {
        for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
          out.append(r.value()).append('\n');
          if (++seen == count) stopAt = System.currentTimeMillis() + 1000;
        }
      }
    }
    System.out.print(out);
    System.out.flush();
  }
}
