// Kafka's ssl.principal.mapping.rules, ported from clients/src/main/java/org/apache/kafka/common/security/ssl/
// SslPrincipalMapper.java: a comma-separated list of `RULE:pattern/replacement/[LU]` and `DEFAULT`, tried in order on
// a certificate's subject DN (RFC 2253, as x500-name.ts writes it); the first rule whose pattern matches the whole DN
// gives the name (the DN with every match of the pattern replaced, Java's replaceAll, then lower- or upper-cased),
// DEFAULT gives the DN itself. No rule matching is an error (Kafka then fails the authentication).
//
// Patterns are JavaScript regular expressions, not Java ones: the syntax Kafka's examples and tests use (groups, lazy
// quantifiers, classes, anchors, \w, escapes) means the same in both. What the two engines read differently, or what
// Java's java.util.regex.Pattern refuses (Kafka then fails at start) and JavaScript reads, is refused when the rules
// are read: an escape outside those both read alike, a `[` inside a class (Java's union) or a `]` first in one, `&&`
// in a class (Java's intersection), a `{` that is not a quantifier, a group name that is not ASCII letters and digits,
// a back reference to a group the pattern lacks; Java-only syntax JavaScript cannot compile (possessive `*+`, inline
// flags `(?i)`) is refused by RegExp itself. `$` matches only at the very end (Java's also before a final line
// break, which a DN does not have). Replacements follow Java's Matcher.appendReplacement (`$n`, `${name}`, `\`
// escapes the next character), not JavaScript's.

/** The rules' splitter and parser: Kafka's RULE_PATTERN, RULE_SPLITTER and RULE_PARSER. */
const RULE_PATTERN = String.raw`(DEFAULT)|RULE:((\\.|[^\\/])*)/((\\.|[^\\/])*)/([LU]?).*?|(.*?)`;
const RULE_SPLITTER = new RegExp(String.raw`\s*(` + RULE_PATTERN + String.raw`)\s*(,\s*|$)`, 'g');
const RULE_PARSER = new RegExp(RULE_PATTERN, 'y');
const BACK_REFERENCE = /\$(\d+)/g;
/** Escapes both engines read alike, whatever follows them: classes, and the controls \t \n \r \f. */
const PLAIN_ESCAPES = new Set(['d', 'D', 's', 'S', 'w', 'W', 't', 'n', 'r', 'f']);
/** Java's group names (Pattern.groupname: an ASCII letter, then ASCII letters and digits); JavaScript's take more. */
const GROUP_NAME = /^[A-Za-z][A-Za-z0-9]*$/;
/**
 * Escapes with an argument, in the forms both engines read alike (JavaScript without the u flag, Java's
 * Pattern.escape): \cX is X ^ 64 to Java and X % 32 to JavaScript, alike for A-Z only; Java's \0mnn (three digits) is
 * \0mn and a digit to JavaScript.
 */
const ARGUMENT_ESCAPE = /\\(?:c[A-Z]|x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|0[0-7]{1,2}(?![0-7]))/y;
const BACK_REFERENCE_ESCAPE = /\\([1-9][0-9]*)/y;
const NAMED_REFERENCE = /\\k<([^>]*)>/y;
const QUANTIFIER = /\{[0-9]+(?:,[0-9]*)?\}/y;
const NAMED_GROUP = /\(\?<(?![=!])([^>]*)>/y;

/** A sticky pattern's match at `i` in `s`. */
function at(re: RegExp, s: string, i: number): RegExpExecArray | null {
  re.lastIndex = i;
  return re.exec(s);
}

export class InvalidMappingRuleError extends Error {
  readonly code = 'KQP_TLS_INVALID_MAPPING_RULE';
  override readonly name = 'InvalidMappingRuleError';
}

/** No rule applies to a DN (Kafka's NoMatchingRule), or a rule's replacement names a group its pattern lacks. */
export class NoMatchingRuleError extends Error {
  readonly code = 'KQP_TLS_NO_MATCHING_RULE';
  override readonly name = 'NoMatchingRuleError';
}

interface Rule {
  /** undefined: DEFAULT. */
  pattern: string | undefined;
  whole: RegExp | undefined;
  all: RegExp | undefined;
  replacement: string;
  case: '' | 'L' | 'U';
}

export class SslPrincipalMapper {
  private constructor(private readonly rules: Rule[]) {}

  /** Kafka's SslPrincipalMapper.fromRules: throws InvalidMappingRuleError for a rule it cannot read. */
  static fromRules(rules: string): SslPrincipalMapper {
    return new SslPrincipalMapper(splitRules(rules).map(parseRule).filter((r): r is Rule => r !== undefined));
  }

  /** The principal name of a subject DN: the first rule that applies. Throws NoMatchingRuleError when none does. */
  name(dn: string): string {
    for (const r of this.rules) {
      const name = apply(r, dn);
      if (name !== undefined) return name;
    }
    throw new NoMatchingRuleError(`No rules apply to ${dn}, rules ${this.list()}`);
  }

  /** As Kafka's toString. */
  toString(): string {
    return `SslPrincipalMapper(rules = ${this.list()})`;
  }

  private list(): string {
    return `[${this.rules.map((r) => (r.pattern === undefined ? 'DEFAULT' : `RULE:${r.pattern}/${r.replacement}${r.case ? `/${r.case}` : ''}`)).join(', ')}]`;
  }
}

function splitRules(rules: string): string[] {
  // Java's Matcher.find after an empty match starts one character further, as matchAll does
  return [...rules.trim().matchAll(RULE_SPLITTER)].map((m) => m[1]!);
}

function parseRule(rule: string): Rule | undefined {
  RULE_PARSER.lastIndex = 0;
  const m = RULE_PARSER.exec(rule);
  if (!m) throw new InvalidMappingRuleError(`Invalid rule: ${rule}`);
  if (m[0].length !== rule.length) throw new InvalidMappingRuleError(`Invalid rule: \`${rule}\`, unmatched substring: \`${rule.slice(m[0].length)}\``);
  if (m[1] !== undefined) return { pattern: undefined, whole: undefined, all: undefined, replacement: '', case: '' };
  if (m[2] === undefined) return undefined; // empty rules are ignored
  const pattern = m[2];
  let whole: RegExp;
  let all: RegExp;
  try {
    whole = new RegExp(`^(?:${pattern})$`);
    all = new RegExp(pattern, 'g');
  } catch (err) {
    throw new InvalidMappingRuleError(`Invalid rule: ${rule}: ${(err as Error).message}`);
  }
  const unlike = javaDifference(pattern, countGroups(all));
  if (unlike !== undefined) throw new InvalidMappingRuleError(`Invalid rule: ${rule}: ${unlike}`);
  return { pattern, whole, all, replacement: m[4]!, case: m[6] as '' | 'L' | 'U' };
}

/**
 * The first construct of a pattern (one JavaScript compiled, with `groups` groups) that Java reads otherwise, or
 * refuses, described; undefined when there is none. Escapes are allowed, not denied: a Java escape a list forgot would
 * otherwise pass as the letter itself.
 */
function javaDifference(pattern: string, groups: number): string | undefined {
  /** Inside a class: where its first member is (after `[` or `[^`); -1 outside. */
  let classFirst = -1;
  for (let i = 0; i < pattern.length;) {
    const c = pattern[i]!;
    const inClass = classFirst >= 0;
    let m: RegExpExecArray | null;
    if (c === '\\') {
      const e = pattern[i + 1] ?? '';
      if (PLAIN_ESCAPES.has(e) || (e !== '' && !/[A-Za-z0-9]/.test(e)) || (!inClass && (e === 'b' || e === 'B'))) {
        i += 2;
      } else if ((m = at(ARGUMENT_ESCAPE, pattern, i))) {
        i += m[0].length;
      } else if (!inClass && (m = at(BACK_REFERENCE_ESCAPE, pattern, i))) {
        if (Number(m[1]) > groups) return `\`${m[0]}\`: a back reference to a group the pattern lacks (Java and JavaScript read it otherwise)`;
        i += m[0].length;
      } else if (!inClass && (m = at(NAMED_REFERENCE, pattern, i))) {
        if (!GROUP_NAME.test(m[1]!)) return `\`${m[0]}\`: Java's group names are ASCII letters and digits, a letter first`;
        i += m[0].length;
      } else {
        return `\`${pattern.slice(i, i + 2)}\`: an escape Java refuses or reads otherwise than JavaScript (both read \\d \\D \\s \\S \\w \\W \\b \\B \\t \\n \\r \\f \\cA-\\cZ \\xhh \\uhhhh \\0oo, back references, \\k<name> and escaped punctuation alike)`;
      }
    } else if (inClass) {
      if (c === ']' && i === classFirst) return '`]` first in a class (Java: a member; JavaScript: the end of the class)';
      if (c === '[') return '`[` inside a class (Java: a nested class, a union; JavaScript: the character)';
      if (c === '&' && pattern[i + 1] === '&') return '`&&` in a class (Java: an intersection; JavaScript: the characters)';
      if (c === ']') classFirst = -1;
      i++;
    } else if (c === '[') {
      i += pattern[i + 1] === '^' ? 2 : 1;
      classFirst = i;
    } else if (c === '{' && !at(QUANTIFIER, pattern, i)) {
      return '`{` that begins no quantifier {n}, {n,} or {n,m} (Java refuses it; JavaScript reads the character)';
    } else if ((m = at(NAMED_GROUP, pattern, i))) {
      if (!GROUP_NAME.test(m[1]!)) return `\`${m[0]}\`: Java's group names are ASCII letters and digits, a letter first`;
      i += m[0].length;
    } else {
      i++;
    }
  }
  return undefined;
}

/** Kafka's Rule.apply: the name, or undefined when the pattern does not match the whole DN. */
function apply(r: Rule, dn: string): string | undefined {
  if (!r.whole || !r.all) return dn;
  if (!r.whole.test(dn)) return undefined;
  const groups = countGroups(r.all);
  const replacement = escapeLiteralBackReferences(r.replacement, groups);
  const name = dn.replace(r.all, (...args: unknown[]) => javaReplacement(replacement, args, groups));
  return r.case === 'L' ? name.toLowerCase() : r.case === 'U' ? name.toUpperCase() : name;
}

function countGroups(re: RegExp): number {
  return new RegExp(`${re.source}|`).exec('')!.length - 1;
}

/**
 * Kafka's escapeLiteralBackReferences (from Apache NiFi): a `$n` naming a group the pattern lacks is made literal;
 * `$123` with fewer groups is read as `$12` then `$1`. Ported as it is, positions included (they are found in the
 * original string and applied to the one being changed).
 */
function escapeLiteralBackReferences(unescaped: string, groups: number): string {
  if (groups === 0) return unescaped;
  let value = unescaped;
  for (const m of unescaped.matchAll(BACK_REFERENCE)) {
    const num = m[1]!;
    if (num.startsWith('0')) continue;
    let index = Number.parseInt(num, 10);
    while (index > groups && index >= 10) index = Math.trunc(index / 10);
    if (index > groups) {
      const groupStart = m.index! + 1;
      value = `${value.slice(0, groupStart - 1)}\\${value.slice(groupStart - 1)}`;
    }
  }
  return value;
}

/** Java's Matcher.appendReplacement for one match (`args` as String.replace gives them to a function). */
function javaReplacement(replacement: string, args: unknown[], groups: number): string {
  const named = typeof args[args.length - 1] === 'object' ? (args[args.length - 1] as Record<string, string | undefined>) : undefined;
  const group = (n: number) => args[n] as string | undefined;
  let out = '';
  for (let i = 0; i < replacement.length;) {
    const c = replacement[i]!;
    if (c === '\\') {
      if (++i === replacement.length) throw new NoMatchingRuleError('character to be escaped is missing');
      out += replacement[i++];
    } else if (c === '$') {
      if (++i === replacement.length) throw new NoMatchingRuleError('Illegal group reference: group index is missing');
      if (replacement[i] === '{') {
        const end = replacement.indexOf('}', i);
        const name = end < 0 ? '' : replacement.slice(i + 1, end);
        if (!named || !(name in named)) throw new NoMatchingRuleError(`No group with name {${name}}`);
        out += named[name] ?? '';
        i = end + 1;
        continue;
      }
      let ref = replacement.charCodeAt(i) - 48;
      if (ref < 0 || ref > 9) throw new NoMatchingRuleError('Illegal group reference');
      i++;
      // the largest group number that exists
      while (i < replacement.length) {
        const d = replacement.charCodeAt(i) - 48;
        if (d < 0 || d > 9 || ref * 10 + d > groups) break;
        ref = ref * 10 + d;
        i++;
      }
      if (ref > groups) throw new NoMatchingRuleError(`No group ${ref}`);
      out += ref === 0 ? (args[0] as string) : (group(ref) ?? '');
    } else {
      out += c;
      i++;
    }
  }
  return out;
}
