// Reads messages encoded by this project's codec and has Kafka's own generated message classes (kafka-clients)
// parse and re-serialize them. Input lines: "<apiKey> <request|response> <version> <hex>". Output lines: "OK", or
// "DIFF <hex Kafka wrote>", or "ERR <exception>".
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.util.HexFormat;
import org.apache.kafka.common.protocol.ApiMessage;
import org.apache.kafka.common.protocol.ByteBufferAccessor;
import org.apache.kafka.common.protocol.ObjectSerializationCache;
import org.apache.kafka.common.message.ApiMessageType;

public class KafkaMessageCheck {
  public static void main(String[] args) throws Exception {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
    HexFormat hex = HexFormat.of();
    String line;
    while ((line = in.readLine()) != null) {
      String[] parts = line.trim().split(" ");
      try {
        ApiMessageType type = ApiMessageType.fromApiKey(Short.parseShort(parts[0]));
        ApiMessage message = parts[1].equals("request") ? type.newRequest() : type.newResponse();
        short version = Short.parseShort(parts[2]);
        byte[] input = parts.length > 3 ? hex.parseHex(parts[3]) : new byte[0];
        ByteBuffer buffer = ByteBuffer.wrap(input);
        message.read(new ByteBufferAccessor(buffer), version);
        if (buffer.remaining() != 0) {
          System.out.println("ERR " + buffer.remaining() + " bytes left unread");
          continue;
        }
        ObjectSerializationCache cache = new ObjectSerializationCache();
        ByteBuffer out = ByteBuffer.allocate(message.size(cache, version));
        message.write(new ByteBufferAccessor(out), cache, version);
        byte[] written = out.array();
        System.out.println(java.util.Arrays.equals(written, input) ? "OK" : "DIFF " + hex.formatHex(written));
      } catch (Exception e) {
        System.out.println("ERR " + e.toString().replace('\n', ' '));
      }
    }
  }
}
