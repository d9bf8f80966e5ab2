// ssl.principal.mapping.rules against every case of Kafka's own SslPrincipalMapperTest (clients/src/test/java/org/
// apache/kafka/common/security/ssl/SslPrincipalMapperTest.java: valid and invalid rules, mapping, how rules split, the
// escaped comma) and the example of Kafka's documentation (docs/security.html, "Customizing SSL User Name"); then what
// JavaScript's regular expressions would read otherwise than Java's, refused; and Java's replacement syntax.
import t from 'tap';
import { InvalidMappingRuleError, NoMatchingRuleError, SslPrincipalMapper } from '../../src/tls/ssl-principal-mapper.js';

t.test("Kafka's testValidRules", async (t) => {
  for (const rules of [
    'DEFAULT',
    'RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/',
    'RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, DEFAULT',
    'RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/',
    'RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L',
    'RULE:^cn=(.?),ou=(.?),dc=(.?),dc=(.?)$/$1@$2/U',
    'RULE:^CN=([^,ADEFLTU,]+)(,.*|$)/$1/',
    'RULE:^CN=([^,DEFAULT,]+)(,.*|$)/$1/',
  ]) t.doesNotThrow(() => SslPrincipalMapper.fromRules(rules), rules);
});

t.test("Kafka's testInvalidRules", async (t) => {
  for (const rules of [
    'default',
    'DEFAUL',
    'DEFAULT/L',
    'DEFAULT/U',
    'RULE:CN=(.*?),OU=ServiceUsers.*/$1',
    'rule:^CN=(.*?),OU=ServiceUsers.*$/$1/',
    'RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U',
    'RULE:^CN=(.*?),OU=ServiceUsers.*$/L',
    'RULE:^CN=(.*?),OU=ServiceUsers.*$/U',
    'RULE:^CN=(.*?),OU=ServiceUsers.*$/LU',
  ]) t.throws(() => SslPrincipalMapper.fromRules(rules), InvalidMappingRuleError, rules);
});

t.test("Kafka's testSslPrincipalMapper", async (t) => {
  const mapper = SslPrincipalMapper.fromRules([
    'RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L',
    'RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L',
    'RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U',
    'RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U',
    'DEFAULT',
  ].join(', '));
  t.equal(mapper.name('CN=Duke,OU=ServiceUsers,O=Org,C=US'), 'duke');
  t.equal(mapper.name('CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US'), 'duke@sme');
  t.equal(mapper.name('cn=duke,ou=sme,dc=mycp,dc=com'), 'DUKE@SME');
  t.equal(mapper.name('cN=duke,OU=JavaSoft,O=Sun Microsystems'), 'DUKE');
  t.equal(mapper.name('OU=JavaSoft,O=Sun Microsystems,C=US'), 'OU=JavaSoft,O=Sun Microsystems,C=US');
});

t.test("Kafka's testRulesSplitting", async (t) => {
  const cases: [string, string][] = [
    ['[]', ''],
    ['[DEFAULT]', 'DEFAULT'],
    ['[RULE:/]', 'RULE://'],
    ['[RULE:/.*]', 'RULE:/.*/'],
    ['[RULE:/.*/L]', 'RULE:/.*/L'],
    ['[RULE:/, DEFAULT]', 'RULE://,DEFAULT'],
    ['[RULE:/, DEFAULT]', '  RULE:// ,  DEFAULT  '],
    ['[RULE:   /     , DEFAULT]', '  RULE:   /     / ,  DEFAULT  '],
    ['[RULE:  /     /U, DEFAULT]', '  RULE:  /     /U   ,DEFAULT  '],
    ['[RULE:([A-Z]*)/$1/U, RULE:([a-z]+)/$1, DEFAULT]', '  RULE:([A-Z]*)/$1/U   ,RULE:([a-z]+)/$1/,   DEFAULT  '],
    // empty rules are ignored
    ['[]', ',   , , ,      , , ,   '],
    ['[RULE:/, DEFAULT]', ',,RULE://,,,DEFAULT,,'],
    ['[RULE: /   , DEFAULT]', ',  , RULE: /   /    ,,,   DEFAULT, ,   '],
    ['[RULE:   /  /U, DEFAULT]', '     ,  , RULE:   /  /U    ,,  ,DEFAULT, ,'],
    // escape sequences
    [String.raw`[RULE:\/\\\(\)\n\t/\/\/]`, String.raw`RULE:\/\\\(\)\n\t/\/\//`],
    [String.raw`[RULE:\**\/+/*/L, RULE:\/*\**/**]`, String.raw`RULE:\**\/+/*/L,RULE:\/*\**/**/`],
    // rules rule
    [
      String.raw`[RULE:,RULE:,/,RULE:,\//U, RULE:,/RULE:,, RULE:,RULE:,/L,RULE:,/L, RULE:, DEFAULT, /DEFAULT, DEFAULT]`,
      String.raw`RULE:,RULE:,/,RULE:,\//U,RULE:,/RULE:,/,RULE:,RULE:,/L,RULE:,/L,RULE:, DEFAULT, /DEFAULT/,DEFAULT`,
    ],
  ];
  for (const [expected, rules] of cases) t.equal(SslPrincipalMapper.fromRules(rules).toString(), `SslPrincipalMapper(rules = ${expected})`, JSON.stringify(rules));
});

t.test("Kafka's testCommaWithWhitespace", async (t) => {
  const mapper = SslPrincipalMapper.fromRules(String.raw`RULE:^CN=((\\, *|\w)+)(,.*|$)/$1/,DEFAULT`);
  t.equal(mapper.name(String.raw`CN=Tkac\, Adam,OU=ITZ,DC=geodis,DC=cz`), String.raw`Tkac\, Adam`);
});

t.test("the example of Kafka's documentation (Customizing SSL User Name), one rule a line", async (t) => {
  const mapper = SslPrincipalMapper.fromRules([
    'RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,',
    'RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,',
    'RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,',
    'DEFAULT',
  ].join('\n'));
  t.equal(mapper.name('CN=serviceuser,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown'), 'serviceuser');
  t.equal(mapper.name('CN=adminUser,OU=Admin,O=Unknown,L=Unknown,ST=Unknown,C=Unknown'), 'adminuser@admin');
});

t.test('no rule applies: an error (Kafka then fails the authentication)', async (t) => {
  t.throws(() => SslPrincipalMapper.fromRules('RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/').name('CN=x,OU=Other'), NoMatchingRuleError);
  t.throws(() => SslPrincipalMapper.fromRules('').name('CN=x'), NoMatchingRuleError, 'no rules at all');
});

t.test("replacements follow Java's Matcher, not JavaScript's", async (t) => {
  const name = (rule: string, dn: string) => SslPrincipalMapper.fromRules(rule).name(dn);
  t.equal(name('RULE:^CN=(a)(b)$/$12/', 'CN=ab'), 'a2', '$12 with two groups is $1 then "2" (Java reads the longest group number that exists)');
  t.equal(name('RULE:^CN=(a)$/$2x/', 'CN=a'), '$2x', "a group the pattern lacks is literal (Kafka's escapeLiteralBackReferences)");
  t.equal(name(String.raw`RULE:^CN=(a)$/\$1-$1/`, 'CN=a'), '$1-a', 'a backslash makes the next character literal');
  t.equal(name('RULE:^CN=(?<who>[a-z]+)$/${who}!/', 'CN=bob'), 'bob!', '${name} is a named group');
  t.throws(() => name('RULE:^CN=(a)$/x$&y/', 'CN=a'), NoMatchingRuleError, "JavaScript's $& is an illegal group reference in Java");
  t.throws(() => name('RULE:^CN=a$/$1/', 'CN=a'), NoMatchingRuleError, 'with no groups, $1 is an error, as in Java');
  t.equal(name('RULE:[a-z]*/<$0>/', 'ab'), '<ab><>', "once the whole DN matches, every match in it is replaced, the empty one at the end too (Java's replaceAll)");
  t.equal(name('RULE:^.*$/[$0]/L', 'CN=Mixed'), '[cn=mixed]', '$0 is the whole match; /L lower-cases');
});

t.test('Java constructs JavaScript would read otherwise are refused when the rules are read', async (t) => {
  for (const rule of [String.raw`RULE:\QCN=\E(.*)/$1/`, String.raw`RULE:\p{Lower}+/x/`, 'RULE:(?i)cn=(.*)/$1/', 'RULE:a*+/x/', String.raw`RULE:CN=(.*)\Z/$1/`,
    String.raw`RULE:CN=\v(.*)/$1/`, String.raw`RULE:CN=\x{41}(.*)/$1/`, String.raw`RULE:CN=\a(.*)/$1/`, 'RULE:CN=([a-z&&[^q]]*)/$1/']) {
    t.throws(() => SslPrincipalMapper.fromRules(rule), InvalidMappingRuleError, rule);
  }
  t.doesNotThrow(() => SslPrincipalMapper.fromRules(String.raw`RULE:^CN=\\Q(.*)$/$1/`), 'an escaped backslash before Q is fine');
});

t.test('what the two engines read differently is refused at load, naming the rule; what they read alike is taken', async (t) => {
  for (const [pattern, why] of [
    ['^CN=([a-z[0-9]]+)$', "Java's class union (a literal [ to JavaScript)"],
    ['^CN=([]a]+)$', 'a ] first in a class (a member to Java, the end of an empty class to JavaScript)'],
    [String.raw`^CN=\y(.*)$`, 'an illegal escape to Java (Kafka refuses it at start), the letter y to JavaScript'],
    [String.raw`^CN=\u{41}(.*)$`, 'an illegal Unicode escape to Java, u repeated 41 times to JavaScript'],
    [String.raw`^CN=\ca(.*)$`, "a control escape of a lower-case letter: ! to Java, U+0001 to JavaScript"],
    [String.raw`^CN=\0377(.*)$`, 'octal 377 to Java, octal 37 and a 7 to JavaScript'],
    [String.raw`^CN=\0(.*)$`, 'an illegal octal escape to Java, NUL to JavaScript'],
    [String.raw`^CN=([\b]+)$`, 'illegal in a class to Java, a backspace to JavaScript'],
    ['^CN=(?<a_b>.*)$', 'a group name with _ (refused by Java)'],
    [String.raw`^CN=(a)\2$`, 'a back reference to a missing group (octal 2 to JavaScript)'],
    ['^CN=a{,2}(.*)$', 'a { that begins no quantifier (refused by Java, a literal to JavaScript)'],
  ] as const) {
    const rule = `RULE:${pattern}/$1/`;
    t.throws(() => SslPrincipalMapper.fromRules(`DEFAULT, ${rule}`), { name: 'InvalidMappingRuleError', message: `Invalid rule: ${rule}: ` }, `${pattern}: ${why}`);
  }
  // each checked against java.util.regex.Pattern: the same DN matches both, with the same groups
  const mapper = SslPrincipalMapper.fromRules(String.raw`RULE:^CN=\x41\u0042\cC\07(\d{2,})[^\],]{1,3}\,(?<who>[a-z]+)\k<who>(x)\3$/$1-` + '${who}/');
  t.equal(mapper.name('CN=AB\x03\x0712abc,bobbobxx'), '12-bob', String.raw`\xhh, \uhhhh, \cA-\cZ, \0oo, quantifiers, escaped punctuation, named groups and back references are taken`);
});
