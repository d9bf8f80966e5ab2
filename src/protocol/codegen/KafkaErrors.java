// Prints Kafka's error codes for src/protocol/codegen/generate.ts, one per line: code, name, whether the client
// retries it (a RetriableException), and Kafka's message, tab-separated. Run from the pinned kafka-clients jar.
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.protocol.Errors;

public class KafkaErrors {
    public static void main(String[] args) {
        for (Errors e : Errors.values()) {
            String message = e.message() == null ? "" : e.message().replaceAll("\\s+", " ");
            System.out.println(e.code() + "\t" + e.name() + "\t" + (e.exception() instanceof RetriableException) + "\t" + message);
        }
    }
}
