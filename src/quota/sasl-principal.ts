// The principal a SASL exchange is about, read from the client's tokens as they pass (the proxy does not terminate
// SASL; it binds the name only once the broker has said the exchange succeeded).

/** Client tokens a mechanism sends before the broker's verdict: PLAIN one, SCRAM two (client-first, client-final). */
export function clientTokens(mechanism: string): number {
  return mechanism.startsWith('SCRAM-') ? 2 : 1;
}

/** PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd. Kafka's principal is the authcid (the username). */
export function plainUsername(token: Buffer): string | undefined {
  const first = token.indexOf(0);
  const second = first < 0 ? -1 : token.indexOf(0, first + 1);
  if (second < 0) return undefined;
  const name = token.toString('utf8', first + 1, second);
  return name.length > 0 ? name : undefined;
}

/**
 * SCRAM client-first-message (RFC 5802) as Kafka reads it (ScramMessages.ClientFirstMessage): gs2-header, an optional
 * reserved "m=..." attribute, "n=" saslname, ",r=" nonce, then extensions ",key=value" ("," and "=" in the name
 * escaped as =2C, =3D). A delegation-token login (the extension tokenauth, true in any case, the last one if repeated:
 * ScramExtensions is a map, read with Boolean.parseBoolean) names the token, not a user: the broker makes its owner the
 * principal (ScramSaslServer), whom only the broker knows, so such a login is bound to no user here (undefined).
 */
export function scramUsername(token: Buffer): string | undefined {
  const text = token.toString('utf8');
  const gs2 = /^[ny](?:=[^,]*)?,(?:a=[^,]*)?,|^p=[^,]*,(?:a=[^,]*)?,/.exec(text);
  if (!gs2) return undefined;
  const m = /^(?:m=[^,]*,)?n=([^,]+),r=[^,]+((?:,[^,=]+=[^,]*)*)$/.exec(text.slice(gs2[0].length));
  if (!m) return undefined;
  const extensions = new Map(m[2]!.split(',').slice(1).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const));
  if (extensions.get('tokenauth')?.toLowerCase() === 'true') return undefined;
  return m[1]!.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

/** What ends each of OAUTHBEARER's key=value pairs (RFC 7628's kvsep). */
const KV_SEPARATOR = '\u0001';

/**
 * OAUTHBEARER's client first message (RFC 7628) as Kafka reads it (OAuthBearerClientInitialResponse): a gs2 header
 * "n,[a=authzid],", then key=value pairs each ended by \x01, auth=Bearer <token> among them, and a final \x01. Kafka's
 * principal is the token's claim named by the broker's sasl.oauthbearer.sub.claim.name (BrokerJwtValidator; the
 * unsecured validator's unsecuredValidatorPrincipalClaimName), "sub" by default, a string. The token is a JWS in
 * compact form: its payload (base64url JSON) is read here, not verified (the broker verifies it, and the name is bound
 * only once the broker has accepted the login).
 */
export function oauthbearerPrincipal(token: Buffer, claim: string): string | undefined {
  const text = token.toString('latin1');
  const gs2 = /^n,(?:a=[^,]*)?,/.exec(text);
  const rest = gs2 ? text.slice(gs2[0].length) : '';
  if (!rest.startsWith(KV_SEPARATOR) || !rest.endsWith(KV_SEPARATOR + KV_SEPARATOR)) return undefined;
  const pairs = rest.slice(1, -1).split(KV_SEPARATOR).slice(0, -1);
  if (!pairs.every((kv) => /^[A-Za-z]+=[\x21-\x7E \t\r\n]+$/.test(kv))) return undefined;
  const auth = pairs.find((kv) => kv.startsWith('auth='))?.slice('auth='.length);
  const bearer = auth === undefined ? null : /^(\w+) +([-_~+/.a-zA-Z0-9]+=*)$/.exec(auth);
  const payload = bearer?.[1]!.toLowerCase() === 'bearer' ? bearer[2]!.split('.')[1] : undefined;
  if (payload === undefined) return undefined;
  try {
    const name = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>)[claim];
    return typeof name === 'string' && name.length > 0 ? name : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The username in a mechanism's first client token, or undefined (other mechanisms, malformed tokens); an OAUTHBEARER
 * token's `oauthbearerClaim`.
 */
export function usernameOf(mechanism: string, firstToken: Buffer, oauthbearerClaim: string): string | undefined {
  if (mechanism === 'PLAIN') return plainUsername(firstToken);
  if (mechanism === 'SCRAM-SHA-256' || mechanism === 'SCRAM-SHA-512') return scramUsername(firstToken);
  if (mechanism === 'OAUTHBEARER') return oauthbearerPrincipal(firstToken, oauthbearerClaim);
  return undefined;
}

/** SCRAM server-final-message: "v=" on success, "e=" on failure. */
export function scramServerFinalOk(token: Buffer): boolean {
  return token.length >= 2 && token[0] === 0x76 && token[1] === 0x3d;
}
