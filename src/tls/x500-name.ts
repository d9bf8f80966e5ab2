// A certificate's subject as Kafka sees it: Java's X500Principal.getName() (RFC 2253), which Kafka's
// DefaultKafkaPrincipalBuilder hands to ssl.principal.mapping.rules. Read from the certificate's DER (Node's own
// renderings of a subject keep OpenSSL's order and escaping): the most specific RDN first, RDNs joined by ",", the
// values of a multi-valued RDN by "+" in certificate order. As sun.security.x509.AVA.toRFC2253String does: the RFC 2253
// keywords (CN, C, L, ST, O, OU, STREET, DC, UID) by name, any other attribute (emailAddress, serialNumber, ...) as its
// dotted OID with the value's DER in hex (`1.2.840.113549.1.9.1=#1611...`); string values with `,=+<>#;"\` escaped by
// a backslash, NUL as \00, leading and trailing spaces escaped.

const KEYWORDS: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'STREET',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
};

/** DER tags of the string types Java renders as text (AVA.isDerString, not canonical). */
const UTF8 = 0x0c;
const PRINTABLE = 0x13;
const T61 = 0x14;
const IA5 = 0x16;
const GENERAL = 0x1b;
const BMP = 0x1e;
const SEQUENCE = 0x30;
const SET = 0x31;
const OID = 0x06;
const ESCAPEES = ',=+<>#;"\\';

export class CertificateParseError extends Error {
  readonly code = 'KQP_TLS_CERTIFICATE_UNREADABLE';
  override readonly name = 'CertificateParseError';
}

interface Tlv {
  tag: number;
  /** Where the element starts (its tag), where its value starts, where it ends. */
  start: number;
  at: number;
  end: number;
}

function tlv(der: Buffer, pos: number, limit: number): Tlv {
  if (pos + 2 > limit) throw new CertificateParseError('truncated DER');
  const tag = der[pos]!;
  let len = der[pos + 1]!;
  let at = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || at + n > limit) throw new CertificateParseError('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[at + i]!;
    at += n;
  }
  if (at + len > limit) throw new CertificateParseError('DER element runs past its parent');
  return { tag, start: pos, at, end: at + len };
}

/** The subject DN of a DER certificate, as Java's X500Principal.getName() writes it. */
export function subjectDn(der: Buffer): string {
  const cert = tlv(der, 0, der.length);
  const tbs = tlv(der, cert.at, cert.end);
  let pos = tbs.at;
  const next = () => {
    const e = tlv(der, pos, tbs.end);
    pos = e.end;
    return e;
  };
  let e = next();
  if (e.tag === 0xa0) e = next(); // version; then serial number
  next(); // signature algorithm
  next(); // issuer
  next(); // validity
  const subject = next();
  if (subject.tag !== SEQUENCE) throw new CertificateParseError('no subject');
  return nameToRfc2253(der, subject);
}

function nameToRfc2253(der: Buffer, name: Tlv): string {
  const rdns: string[] = [];
  for (let p = name.at; p < name.end;) {
    const set = tlv(der, p, name.end);
    if (set.tag !== SET) throw new CertificateParseError('an RDN is not a SET');
    const avas: string[] = [];
    for (let q = set.at; q < set.end;) {
      const ava = tlv(der, q, set.end);
      const oid = tlv(der, ava.at, ava.end);
      if (oid.tag !== OID) throw new CertificateParseError('an attribute without a type');
      avas.push(avaToRfc2253(der, oidText(der.subarray(oid.at, oid.end)), tlv(der, oid.end, ava.end)));
      q = ava.end;
    }
    rdns.push(avas.join('+'));
    p = set.end;
  }
  return rdns.reverse().join(',');
}

function avaToRfc2253(der: Buffer, oid: string, value: Tlv): string {
  const keyword = KEYWORDS[oid];
  const text = keyword === undefined ? undefined : stringValue(der.subarray(value.at, value.end), value.tag);
  if (text === undefined) return `${keyword ?? oid}=#${der.subarray(value.start, value.end).toString('hex')}`;
  let escaped = '';
  for (const c of text) escaped += c === '\u0000' ? '\\00' : ESCAPEES.includes(c) ? `\\${c}` : c;
  // leading and trailing spaces (and CRs) escaped, as Java does after the characters above
  const chars = [...escaped];
  let lead = 0;
  while (lead < chars.length && (chars[lead] === ' ' || chars[lead] === '\r')) lead++;
  let trail = chars.length - 1;
  while (trail >= 0 && (chars[trail] === ' ' || chars[trail] === '\r')) trail--;
  return `${keyword}=${chars.map((c, i) => (i < lead || i > trail ? `\\${c}` : c)).join('')}`;
}

/**
 * A string attribute's text as Java's AVA.toRFC2253String reads it: the bytes of every string type it knows as UTF-8,
 * BMPString and T61String too (so a BMPString "alice" is "\0a\0l\0i\0c\0e", written \00a\00l..., as Kafka sees it);
 * other types: undefined (the value is written as hex).
 */
function stringValue(bytes: Buffer, tag: number): string | undefined {
  switch (tag) {
    case UTF8:
    case PRINTABLE:
    case IA5:
    case GENERAL:
    case T61:
    case BMP:
      return bytes.toString('utf8');
    default:
      return undefined;
  }
}

function oidText(b: Buffer): string {
  if (b.length === 0) throw new CertificateParseError('empty OID');
  const parts: number[] = [];
  let v = 0;
  for (const byte of b) {
    v = v * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      parts.push(v);
      v = 0;
    }
  }
  const first = parts.shift()!;
  const [a, rest] = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [a, rest, ...parts].join('.');
}
