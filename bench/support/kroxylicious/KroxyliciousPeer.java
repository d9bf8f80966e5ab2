// The peer proxy for `npm run bench -- peers`: Kroxylicious (its runtime jars from Maven Central) as a passthrough
// virtual cluster in front of one broker, no filters. Compiled and started by bench/support/kroxylicious/kroxylicious.ts.
// Usage: KroxyliciousPeer BOOTSTRAP_HOST:PORT UPSTREAM_HOST:PORT NODE_ID
// The bootstrap port listens for bootstrapping; node NODE_ID is served on the port after it (portIdentifiesNode).
import io.kroxylicious.proxy.KafkaProxy;
import io.kroxylicious.proxy.config.ConfigParser;
import io.kroxylicious.proxy.config.Configuration;
import io.kroxylicious.proxy.internal.config.Features;

public final class KroxyliciousPeer {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String upstream = args[1];
        int nodeId = Integer.parseInt(args[2]);
        int bootstrapPort = Integer.parseInt(bootstrap.substring(bootstrap.lastIndexOf(':') + 1));
        String yaml = String.join("\n",
                "virtualClusters:",
                "  - name: peer",
                "    targetCluster:",
                "      bootstrapServers: " + upstream,
                "    gateways:",
                "      - name: plain",
                "        portIdentifiesNode:",
                "          bootstrapAddress: " + bootstrap,
                "          nodeStartPort: " + (bootstrapPort + 1),
                "          nodeIdRanges:",
                "            - name: brokers",
                "              start: " + nodeId,
                "              end: " + nodeId,
                "");
        ConfigParser parser = new ConfigParser();
        Configuration config = parser.parseConfiguration(yaml);
        KafkaProxy proxy = new KafkaProxy(parser, config, Features.defaultFeatures());
        Runtime.getRuntime().addShutdownHook(new Thread(proxy::shutdown));
        proxy.startup();
        System.out.println("kroxylicious-peer started");
        proxy.block();
    }
}
