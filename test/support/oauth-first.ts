/** An OAUTHBEARER client first message as Kafka's OAuthBearerClientInitialResponse writes it, with an unsecured JWS of these claims. */
export const oauthFirst = (claims: object, o: { authzid?: string; extensions?: string; scheme?: string; signature?: string } = {}): Buffer => {
  const part = (x: object) => Buffer.from(JSON.stringify(x)).toString('base64url');
  const jws = `${part({ alg: 'none' })}.${part(claims)}.${o.signature ?? ''}`;
  return Buffer.from(`n,${o.authzid ? `a=${o.authzid}` : ''},\x01auth=${o.scheme ?? 'Bearer'} ${jws}\x01${o.extensions ?? ''}\x01`);
};
