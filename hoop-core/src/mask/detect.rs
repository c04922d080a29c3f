//! Content detectors: one multi-pattern automaton over the text, then a validator per hit.

use regex_automata::meta::Regex;
use regex_automata::util::syntax;
use regex_automata::{Input, PatternID};
use serde::{Deserialize, Serialize};

/// How the base64 body of a private key begins (its first line, the BEGIN line gone):
/// OpenSSH's `openssh-key-v1`, PKCS#1 and PKCS#8 RSA, PKCS#8 Ed25519 and EC, SEC1 EC.
macro_rules! key_body_start {
    () => {
        r"(?:b3BlbnNzaC1rZXktdjE|MII[A-Za-z0-9+/]{3}IBA(?:AKC|DAN)|MC4CAQAwBQYDK2Vw|MI[A-Za-z0-9+/]{2}AgEAMB[AM]GByqGSM49|M[HI][A-Za-z0-9+/]{1,2}CAQEE|MIGkAgEBBD|MIHcAgEBBE)"
    };
}
pub(super) use key_body_start;

/// A kind of sensitive content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detector {
    /// Email addresses.
    Email,
    /// Payment card numbers (Luhn-checked, 13–19 digits, spaces or dashes allowed).
    Card,
    /// IBANs (mod-97 checked).
    Iban,
    /// US social security numbers (`123-45-6789`, invalid areas excluded).
    Ssn,
    /// JSON Web Tokens.
    Jwt,
    /// `Bearer <token>` credentials (the token is masked, the word stays).
    Bearer,
    /// Cloud and SaaS access keys (AWS, GitHub, GitLab, Slack, Google, Stripe).
    CloudKey,
    /// PEM private keys.
    PrivateKey,
    /// Credentials in a URL (`postgres://user:password@host`).
    UrlCredentials,
    /// A value after a name that says it is a credential (`DB_PASSWORD=…`, `api_token: …`):
    /// the value is masked, the name stays.
    NamedCredential,
    /// Phone numbers. Opt-in: they also match timestamps and ids.
    Phone,
    /// IPv4 addresses. Opt-in: they also match version numbers.
    Ip,
    /// A value the adapter knows to be secret (a Kubernetes Secret's), wherever it appears:
    /// never configured, added per response (see [`KnownValues`](super::known::KnownValues)).
    Secret,
}

impl Detector {
    /// The detectors on by default.
    pub const DEFAULT: [Detector; 10] = [
        Detector::Email,
        Detector::Card,
        Detector::Iban,
        Detector::Ssn,
        Detector::Jwt,
        Detector::Bearer,
        Detector::CloudKey,
        Detector::PrivateKey,
        Detector::UrlCredentials,
        Detector::NamedCredential,
    ];

    /// Every detector, in declaration order (so `ALL[d.index()] == d`): the defaults, then the
    /// opt-in ones.
    // Evaluated when compiling: an index out of bounds fails the build, it cannot panic.
    #[allow(clippy::indexing_slicing)]
    pub const ALL: [Detector; 13] = {
        let mut all = [Detector::Phone; 13];
        let mut i = 0;
        while i < Self::DEFAULT.len() {
            all[i] = Self::DEFAULT[i];
            i += 1;
        }
        all[11] = Detector::Ip;
        all[12] = Detector::Secret;
        all
    };

    /// Its position in [`Detector::ALL`], for per-detector counts kept in an array.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Short label used in redactions and token prefixes.
    pub fn label(self) -> &'static str {
        match self {
            Detector::Email => "email",
            Detector::Card => "card",
            Detector::Iban => "iban",
            Detector::Ssn => "ssn",
            Detector::Jwt => "jwt",
            Detector::Bearer => "bearer",
            Detector::CloudKey => "key",
            Detector::PrivateKey => "private_key",
            Detector::UrlCredentials => "url_credentials",
            Detector::NamedCredential => "credential",
            Detector::Phone => "phone",
            Detector::Ip => "ip",
            Detector::Secret => "secret",
        }
    }

    fn patterns(self) -> &'static [&'static str] {
        match self {
            // Every part bounded (a local part is at most 64 characters, a label 63): an unbounded
            // one kept the automaton scanning to the end of a long run of letters and digits
            // after every candidate another detector rejected, quadratic in the run (red-team
            // round 38 pinned a thread for minutes with a 300 KB `bytea` in hex).
            // (No word boundary after the top-level domain: an address glued to what follows,
            // `ann@corp.example_2024.pdf` or `…example2`, is one still; red-team K8s round 103.)
            Detector::Email => &[r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,8}\.[A-Za-z]{2,24}"],
            // A letter or `_` may touch the digits (`acct4111…`): it is trimmed off the hit.
            Detector::Card => &[r"(?:\b|[A-Za-z_])\d(?:[ \-]?\d){12,18}(?:\b|[A-Za-z_])"],
            Detector::Iban => &[r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"],
            Detector::Ssn => &[r"(?:\b|[A-Za-z_])\d{3}-\d{2}-\d{4}(?:\b|[A-Za-z_])"],
            Detector::Jwt => &[r"\beyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*"],
            // Also the credential of an `Authorization:` header's other schemes (`Basic`,
            // `Token`, `Digest`; red-team round 39), the scheme kept; under any name that
            // starts with `authorization` (`Authorization-ish:`, `authorization_header=`: red-team
            // round 94 found one masked in an object, by its name, and clear in a log).
            Detector::Bearer => &[
                r"\b[Bb]earer [A-Za-z0-9._~+/\-]{16,}=*",
                r#"(?i)\b(?:proxy-)?authorization[A-Za-z0-9_\-]{0,32}["']?[ \t]*[:=][ \t]*["']?(?:basic|token|digest|negotiate|apikey)[ \t]+[A-Za-z0-9._~+/\-]{8,}={0,2}"#,
            ],
            Detector::CloudKey => &[
                r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b",
                r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b",
                r"\bglpat-[A-Za-z0-9_\-]{20,}\b",
                r"\bxox[abprs]-[A-Za-z0-9\-]{10,}\b",
                r"\bAIza[A-Za-z0-9_\-]{35}\b",
                r"\b[rs]k_live_[A-Za-z0-9]{24,}\b",
                // A Slack webhook's URL is its credential (red-team round 80).
                r"\bhooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/\-]{20,}",
            ],
            // A block with its armour; one whose END never comes (`head -n -1 id_rsa`) runs over
            // the base64 lines after its BEGIN; and a key's body without its BEGIN line (`sed 1d id_rsa`,
            // `grep -v -e BEGIN -e END`), known by how its first line starts: OpenSSH's
            // `openssh-key-v1`, PKCS#1 and PKCS#8 RSA, PKCS#8 Ed25519 and EC, SEC1 EC (SSH
            // red-team round 98 read a key in clear with each of those spellings).
            Detector::PrivateKey => &[
                r"-----BEGIN [A-Z ]{0,24}PRIVATE KEY-----(?:(?s:.)*?-----END [A-Z ]{0,24}PRIVATE KEY-----|(?m:\r?\n[A-Za-z0-9+/=]+\r?$)*)",
                // (Its next lines are whole lines of base64: a word of the text after it is not.)
                concat!(key_body_start!(), r"[A-Za-z0-9+/=]*(?m:\r?\n[A-Za-z0-9+/=]+\r?$)*(?:\r?\n-----END [A-Z ]{0,24}PRIVATE KEY-----)?"),
            ],
            // The user may be empty (`redis://:password@host`).
            Detector::UrlCredentials => &[r"\b[A-Za-z][A-Za-z0-9+.\-]{1,20}://[^\s/:@]{0,128}:[^\s/@]{1,256}@"],
            // A name ending in a credential word, or with one before a separator (`PGPASSWORD`,
            // `db_password_file`, not `passenger`), maybe quoted (`"password": …`), then `=` or
            // `:` and the value: a word or a quoted string (red-team round 35: `.env`, TOML and
            // JSON files quote theirs), never a substitution (a command shown to a reviewer
            // keeps its code: `TOKEN="$(curl …)"` is not a value). The word starts a word or
            // follows `_`, `.` or `-` (`DB_PASSWORD`, `PGPASSWORD`; not `compass`, `bypass`:
            // red-team round 35 hid a literal from a reviewer behind `bypass=`). What
            // comes before the word is not matched: only the value is masked, and a pattern
            // that may start at any letter would slow every scan.
            Detector::NamedCredential => &[
                // (Also `pw`, make's `?=` and `+=`, and a YAML tag before the value: `DB_PASSWORD:
                // !!str x`; red-team round 80.)
                r"(?i)(?:\b(?:pg|mysql)?|[_.\-])(?:password|passwd|pass|pwd|pw|secret|token|api[_\-]?key|private_?key|privkey|access_?key|signing_?key|encryption_?key|master_?key|hmac_?key|session_?key|ssh_?key|stripe_?key|license_?key|jwt|dsn|salt|credentials?)(?:[_.\-][a-z0-9_.\-]{0,24})?[\x22']?[ \t]*[?+]?[=:][=>]?[ \t]*(?:![!A-Za-z0-9_:/.\-]*[ \t]+)?(?:\x22[^\x22\n$()\x60]+\x22|'[^'\n$()\x60]+'|[^\s\x22',;\x60=:>][^\s\x22',;\x60]*)",
                // Command lines (shell history, scripts, `ps` output; red-team round 35 left
                // `mysql -pSecret` in clear). Each form's value is what follows its flag
                // (`credential_value`): a long flag and its value, blank-separated, never
                // another flag or a substitution.
                // An environment-style name, then blanks and the value (`column -t`, `env |
                // tr = ' '`; red-team round 36). Upper case only, with an `_` in the name or a
                // whole word (checked in `credential_code`): prose says "password reset".
                // The value never starts with a separator (`DB_PASSWORD = x` is the first form's:
                // red-team round 38 saw the `=` masked in its place). Either case, with an `_`
                // in the name (`db_password<TAB>x`).
                r"(?i)\b[a-z0-9_]{0,24}(?:password|passwd|passphrase|pass|pwd|secret|token|api_?key|private_?key|privkey|access_?key|signing_?key|encryption_?key|master_?key|hmac_?key|session_?key|stripe_?key|credentials?)[a-z0-9_]{0,24}[ \t]+(?:\x22[^\x22\n$()\x60]+\x22|'[^'\n$()\x60]+'|[^\s\x22',;\x60=:<>|\-][^\s\x22',;\x60]*)",
                // A JSON array holding the name, then the value (`jq -R 'split("=")'`).
                r"(?i)\x22[a-z0-9_.\-]{0,24}(?:password|passwd|pwd|secret|token|api_?key|private_?key|privkey|access_?key|signing_?key|encryption_?key|master_?key|hmac_?key|credentials?)[a-z0-9_.\-]{0,24}\x22[ \t]*,[ \t]*\x22[^\x22\n]{1,512}\x22",
                r"(?i)--(?:password|passwd|pass|token|auth-token|secret|client-secret|api-key|apikey|access-key|secret-key|private-key|signing-key|encryption-key|master-key|session-key|hmac-key|hmac|jwt|salt)[ \t]+(?:\x22[^\x22\n$()\x60]+\x22|'[^'\n$()\x60]+'|[^\s\x22'\-$()\x60][^\s\x22',;$()\x60]*)",
                // The MySQL clients' `-pVALUE` (attached: `-p value` prompts instead).
                r"\bmysql(?:dump|admin|import|show|check|slap|binlog|pump)?[ \t](?:[^\n|;&]{0,200}?[ \t])?-p[^\s\x22'$()\x60]+",
                // `sshpass -p VALUE`, `redis-cli … -a VALUE`.
                r"\bsshpass[ \t]+-p[ \t]*(?:\x22[^\x22\n$()\x60]+\x22|'[^'\n$()\x60]+'|[^\s\x22'\-$()\x60][^\s]*)",
                r"\bredis-cli[ \t](?:[^\n|;&]{0,200}?[ \t])?-a[ \t]+(?:\x22[^\x22\n$()\x60]+\x22|'[^'\n$()\x60]+'|[^\s\x22'\-$()\x60][^\s]*)",
                // `curl -u user:password` (the user stays).
                r"\bcurl[ \t](?:[^\n|;&]{0,200}?[ \t])?(?:-u|--user)(?:[ \t]*|=)[^\s:\x22'$()\x60]*:[^\s\x22'$()\x60]+",
                // camelCase and fused names (`dbPassword`, `authToken`, `clientSecret`,
                // `ADMINPASSWORD`, `dbpassword`, `PASSPHRASE`; red-team round 38; `MYAPI_KEY`,
                // `xaccess_key`, round 79, which ConfigMap keys already masked): a name in
                // one case with the word inside it, then the separator and value of the first form.
                // PascalCase and long names too (red-team SSH round 83: `ClientSecret`,
                // `AdminPassword`, `MasterUserPassword`, `AccessToken`, and fused names of
                // more than 24 letters before the word came back in clear).
                r"\b[A-Za-z0-9]{0,64}(?:Password|Passwd|Passphrase|Pwd|Secret|Token|ApiKey|Apikey|PrivateKey|AccessKey|SecretKey|Credentials?)[A-Za-z0-9_]{0,24}[\x22']?[ \t]*[=:][=>]?[ \t]*(?:\x22[^\x22\n$()\x60]+\x22|'[^'\n$()\x60]+'|[^\s\x22',;\x60=:>][^\s\x22',;\x60]*)",
                r"\b[A-Z0-9_]{0,63}[A-Z0-9](?:PASSWORD|PASSWD|PASSPHRASE|TOKEN|SECRET|SECRETKEY|APIKEY|API_KEY|ACCESS_KEY|PRIVATE_KEY|SECRET_KEY)[A-Z0-9_]{0,24}[\x22']?[ \t]*[=:][=>]?[ \t]*(?:\x22[^\x22\n$()\x60]+\x22|'[^'\n$()\x60]+'|[^\s\x22',;\x60=:>][^\s\x22',;\x60]*)",
                r"\b(?:[a-z0-9_]{0,63}[a-z0-9](?:password|passwd|passphrase|secret|api_key|access_key|private_key|secret_key|authtoken|accesstoken|apitoken|refreshtoken|bearertoken|sessiontoken|csrftoken)|passphrase|PASSPHRASE|SECRETKEY|AUTHTOKEN)[a-z0-9_]{0,24}[\x22']?[ \t]*[=:][=>]?[ \t]*(?:\x22[^\x22\n$()\x60]+\x22|'[^'\n$()\x60]+'|[^\s\x22',;\x60=:>][^\s\x22',;\x60]*)",
                // Layouts of whole files (red-team round 38, as the Kubernetes masker reads them):
                // `.netrc` (`machine h login u password p`), a `requirepass`/`masterauth`
                // directive, an XML element named as a credential, and a YAML key whose value is
                // on the next line or in a block.
                r"\bmachine[ \t]+[^\s]{1,253}[ \t][^\n]{0,200}?\b(?:password|passwd)[ \t]+(?:\x22[^\x22\n$()\x60]+\x22|'[^'\n$()\x60]+'|[^\s\x22',;\x60=:>][^\s\x22',;\x60]*)",
                r"(?:^|\n)[ \t]*(?:requirepass|masterauth|masteruser-password)[ \t]+(?:\x22[^\x22\n$()\x60]+\x22|'[^'\n$()\x60]+'|[^\s\x22',;\x60=:>][^\s\x22',;\x60]*)",
                r"(?i)<[a-z0-9_.\-:]{0,24}(?:password|passwd|pwd|secret|token|api_?key|private_?key|access_?key|credentials?)[a-z0-9_.\-]{0,24}>[^<\n]{1,512}",
                r"(?i)(?:^|\n)[ \t]*-?[ \t]*[\x22']?[a-z0-9_.\-]{0,24}(?:password|passwd|pwd|secret|token|api_?key|private_?key|access_?key|credentials?)[a-z0-9_.\-]{0,24}[\x22']?[ \t]*:[ \t]*(?:[|>][\-+0-9]{0,3}[ \t]*)?\n[ \t]+[^\s#][^\n]{0,512}",
                // A YAML anchor on a scalar, inline or a block's first line: any key may hold it
                // and a credential's key only its alias (`base: &p s3cret`, then `password:
                // *p`; red-team round 78 read the value under `base`). The alias comes after the
                // anchor, so a stream cannot wait for it: every anchored scalar is masked.
                r"(?:(?:^|\n)[ \t]*|[:\-][ \t]+)&[A-Za-z0-9_.\-]{1,64}[ \t]+(?:\x22[^\x22\n]{1,512}\x22|'[^'\n]{1,512}'|[^\s#\x22'&*|>=\[{][^\n]{0,512})",
                r"(?:(?:^|\n)[ \t]*|[:\-][ \t]+)&[A-Za-z0-9_.\-]{1,64}[ \t]*[|>][\-+0-9]{0,3}[ \t]*\n[ \t]+[^\s#][^\n]{0,512}",
                // Layouts whose names hold no credential word (red-team round 80): a
                // kubeconfig's `client-key-data` (a base64 private key), Docker's `"auth"` (base64
                // of `user:password`) and tokens, PHP's `define('DB_PASSWORD', '…')`, an XML
                // element's `name="password" value="…"`, and SQL's `IDENTIFIED BY '…'` and
                // `PASSWORD '…'`.
                r"(?i)\bclient[_\-]key[_\-]data[\x22']?[ \t]*[=:][ \t]*[\x22']?[A-Za-z0-9+/=]{16,}",
                r"\x22(?:auth|identitytoken|registrytoken)\x22[ \t]*:[ \t]*\x22[A-Za-z0-9+/=._\-]{8,}\x22",
                r"(?i)\bdefine[ \t]*\([ \t]*['\x22][a-z0-9_]{0,32}(?:password|passwd|pass|pwd|secret|key|token|salt)[a-z0-9_]{0,32}['\x22][ \t]*,[ \t]*(?:'[^'\n]{1,512}'|\x22[^\x22\n]{1,512}\x22)",
                r"(?i)\b(?:name|key)[ \t]*=[ \t]*[\x22'][a-z0-9_.\-]{0,24}(?:password|passwd|pwd|secret|token|api_?key|private_?key|access_?key|credentials?)[a-z0-9_.\-]{0,24}[\x22'][ \t]+value[ \t]*=[ \t]*(?:\x22[^\x22\n]{1,512}\x22|'[^'\n]{1,512}')",
                r"(?i)\b(?:identified[ \t]+by|password)[ \t]+(?:'[^'\n]{1,512}'|\x22[^\x22\n]{1,512}\x22)",
                // A name whose credential word is in the other case from what comes before it:
                // an upper-case acronym glued to the lower-case word (red-team SSH round 93:
                // `SMTPpassword=`, `LDAPsecret:`, `DBpass=`, PHP's `$DBpassword`; round 94:
                // `REDISauth`, `ROOTpw`), a lower-case or PascalCase part glued to the word in
                // capitals (round 94: `smtpPASSWORD`, `dbPWD`, `SessionSECRET`, `AdminPASS`), and
                // `password`, `passphrase`, `secretkey`, `authkey`, `passkey` in any mix of cases
                // (`SmTpPaSsWoRd`, `secretKey`, `PassPhrase`: rounds 94–95). Last: a pattern's
                // place is its form in `credential_value`.
                r"\b[A-Za-z0-9]{0,62}[A-Z](?:password|passwd|passphrase|pass|pwd|pw|secret|token|auth|apikey|api_key|access_key|private_key|secret_key|credentials?)[A-Za-z0-9_]{0,24}[\x22']?[ \t]*[=:][=>]?[ \t]*(?:\x22[^\x22\n$()\x60]+\x22|'[^'\n$()\x60]+'|[^\s\x22',;\x60=:>][^\s\x22',;\x60]*)",
                r"\b[A-Za-z0-9]{0,62}[a-z0-9](?:PASSWORD|PASSWD|PASSPHRASE|PASS|PWD|PW|SECRET|TOKEN|AUTH|APIKEY|API_KEY|ACCESS_KEY|PRIVATE_KEY|SECRET_KEY|CREDENTIALS?)[A-Za-z0-9_]{0,24}[\x22']?[ \t]*[=:][=>]?[ \t]*(?:\x22[^\x22\n$()\x60]+\x22|'[^'\n$()\x60]+'|[^\s\x22',;\x60=:>][^\s\x22',;\x60]*)",
                r"(?i)\b[a-z0-9]{0,63}(?:password|passphrase|secret_?key|auth_?key|pass_?key)[A-Za-z0-9_]{0,24}[\x22']?[ \t]*[=:][=>]?[ \t]*(?:\x22[^\x22\n$()\x60]+\x22|'[^'\n$()\x60]+'|[^\s\x22',;\x60=:>][^\s\x22',;\x60]*)",
                // Fused names of a credential word in any case (red-team SSH round 96:
                // `authtoken`, `masterPass`, `DB_ROOTPASS`, `PassCode`, `encKey`, `signKey`).
                r"(?i)\b[a-z0-9_]{0,32}(?:authtoken|accesstoken|apitoken|secrettoken|refreshtoken|passcode|enc_?key|sign(?:ing)?_?key|cred_?key|salt_?key|(?:root|master|admin|sys)_?(?:pass|pwd|pw))[A-Za-z0-9_]{0,24}[\x22']?[ \t]*[=:][=>]?[ \t]*(?:\x22[^\x22\n$()\x60]+\x22|'[^'\n$()\x60]+'|[^\s\x22',;\x60=:>][^\s\x22',;\x60]*)",
            ],
            Detector::Phone => &[r"(?:\+\d{1,3}[ .\-]?)?\(?\b\d{3}\)?[ .\-]?\d{3}[ .\-]\d{4}\b"],
            Detector::Ip => &[r"\b(?:\d{1,3}\.){3}\d{1,3}\b"],
            Detector::Secret => &[],
        }
    }

    /// Whether a pattern hit is really this kind of content.
    fn validate(self, hit: &[u8]) -> bool {
        match self {
            Detector::Card => luhn(hit),
            Detector::Iban => iban_ok(hit),
            Detector::Ssn => ssn_ok(hit),
            // `PWD` is the shell's working directory (what `printenv` shows), not a password.
            Detector::NamedCredential => !(hit.len() > 3 && hit.get(..3).is_some_and(|n| n.eq_ignore_ascii_case(b"pwd")) && matches!(hit.get(3), Some(b'=' | b':'))),
            Detector::Ip => hit
                .split(|b| *b == b'.')
                .all(|o| std::str::from_utf8(o).ok().and_then(|s| s.parse::<u16>().ok()).is_some_and(|n| n <= 255)),
            _ => true,
        }
    }
}

/// Where the value starts in a `credential` hit of pattern `form` (see its patterns): after the
/// `=` or `:` of a name, after the blanks of a long flag, after `-p`, `-a` or the user's `:`.
fn credential_value(h: &[u8], form: usize) -> usize {
    let blanks = |from: usize| from + h.get(from..).unwrap_or_default().iter().take_while(|b| **b == b' ' || **b == b'\t').count();
    // The last `flag` that follows a blank (the pattern ends with its value).
    let after_flag = |flag: &[u8]| {
        h.windows(flag.len() + 1)
            .rposition(|w| matches!(w.first(), Some(b' ' | b'\t')) && w.get(1..) == Some(flag))
            .map_or(0, |p| p + 1 + flag.len())
    };
    match form {
        1 | 3 => blanks(h.iter().position(|b| *b == b' ' || *b == b'\t').unwrap_or(0)),
        2 | 19 => h.iter().position(|b| *b == b',').map_or(0, |p| blanks(p + 1)),
        // An XML element's `value=`: after the second `=`.
        20 => h.iter().enumerate().filter(|(_, b)| **b == b'=').nth(1).map_or(0, |(p, _)| blanks(p + 1)),
        // SQL: the quoted string.
        21 => h.iter().position(|b| *b == b'\'' || *b == b'"').unwrap_or(0),
        4 => after_flag(b"-p"),
        5 => blanks(h.windows(2).position(|w| w == b"-p").map_or(0, |p| p + 2)),
        6 => blanks(after_flag(b"-a")),
        7 => {
            let flag = after_flag(b"-u").max(after_flag(b"--user"));
            h.get(flag..).and_then(|v| v.iter().position(|b| *b == b':')).map_or(flag, |p| flag + p + 1)
        }
        // `.netrc`, a directive: the last word.
        11 | 12 => h.iter().rposition(|b| *b == b' ' || *b == b'\t').map_or(0, |p| p + 1),
        // An XML element: after its start tag.
        13 => h.iter().position(|b| *b == b'>').map_or(0, |p| p + 1),
        // A YAML value on the next line: after that line's indentation.
        14 | 16 => h.iter().rposition(|b| *b == b'\n').map_or(0, |p| blanks(p + 1)),
        // An anchored scalar: after the anchor's name.
        15 => h.iter().position(|b| *b == b'&').map_or(0, |p| blanks(p + 1 + h.get(p + 1..).unwrap_or_default().iter().take_while(|b| !matches!(b, b' ' | b'\t')).count())),
        _ => {
            // After `=`, `:`, `:=` or `=>`, and the blanks after it.
            let sep = h.iter().position(|b| *b == b'=' || *b == b':').map_or(0, |p| p + 1);
            blanks(sep + usize::from(matches!(h.get(sep), Some(b'=' | b'>'))))
        }
    }
}

/// Candidates a scan rejects before it masks the rest of the text whole (see
/// [`DetectorSet::for_each_hit`]), or one per 8 bytes of a longer text (hex, say, holds a
/// rejected card candidate every 14 bytes or so), each weighed by its digit groups: one 8 MB
/// value of `1-1-1-…` held a connection thread, and every session on it, for 12 s (red-team
/// round 67); weighed, and with the checks of a candidate not allocating, about 20 ms a MiB.
const MAX_REJECTED: usize = 10_000;

/// One detected span of sensitive content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Start offset (bytes).
    pub start: usize,
    /// End offset (bytes, exclusive).
    pub end: usize,
    /// What was found.
    pub detector: Detector,
    /// Where the match starts, the name before a credential's value included (`start` for
    /// the others): a stream that sends the name must mask what follows it.
    pub from: usize,
}

/// The enabled detectors, compiled into a few automata, each text scanned once by each.
///
/// One automaton for all of them made the lazy DFA's states multiply on base64 text (the
/// email local part's 64 and the URL credentials' 256 counted repetitions together): its cache
/// filled so often that the search fell back to the NFA, about 0.6 MB/s, and a base64 stream
/// held a connection thread for seconds a MB (red-team round 69). URL credentials, the named
/// credentials' twenty-two forms and private keys are searched on their own, each only in a
/// text holding what all its matches hold; the rest together (the card pattern must share an automaton
/// with the SSN, phone and IP ones it tries at a rejected candidate).
#[derive(Debug, Clone)]
pub struct DetectorSet {
    groups: Vec<Group>,
    /// Values known to be secret, searched beside the detectors (see [`Detector::Secret`]).
    known: Option<std::sync::Arc<super::known::KnownValues>>,
}

/// Detectors searched apart from the others, each in an automaton of its own.
/// (A private key's body without its armour is a run of base64 too: beside the others it made
/// base64 text 130 times slower.)
const APART: &[Detector] = &[Detector::UrlCredentials, Detector::NamedCredential, Detector::PrivateKey];

impl DetectorSet {
    /// Compiles `detectors` (duplicates ignored).
    pub fn new(detectors: &[Detector]) -> Result<Self, String> {
        let mut seen: Vec<Detector> = Vec::new();
        for d in detectors {
            if !seen.contains(d) {
                seen.push(*d);
            }
        }
        let rest: Vec<Detector> = seen.iter().copied().filter(|d| !APART.contains(d)).collect();
        let mut groups = Vec::new();
        for members in std::iter::once(rest).chain(APART.iter().filter(|d| seen.contains(d)).map(|d| vec![*d])) {
            let g = Group::new(&members)?;
            if !g.is_empty() {
                groups.push(g);
            }
        }
        Ok(DetectorSet { groups, known: None })
    }

    /// A set with no detectors.
    pub fn empty() -> Self {
        DetectorSet { groups: Vec::new(), known: None }
    }

    /// The same set, also finding `known` values.
    pub fn with_known(&self, known: std::sync::Arc<super::known::KnownValues>) -> Self {
        DetectorSet { groups: self.groups.clone(), known: (!known.is_empty()).then_some(known) }
    }

    /// Whether it searches for values known to be secret.
    pub fn knows_values(&self) -> bool {
        self.known.is_some()
    }

    /// Whether `text` holds a value known to be secret anywhere, whatever other detector's hit
    /// surrounds it (a masked URL's password is the URL's hit, not the value's).
    pub fn holds_known(&self, text: &[u8]) -> bool {
        self.known.as_ref().is_some_and(|k| !k.find_all(text).is_empty())
    }

    /// Whether any detector is enabled.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.known.is_none()
    }

    /// Calls `f` for each validated hit in `text`, in order, non-overlapping: where hits of two
    /// automata overlap, the one that starts first wins (at the same start, the first group's).
    ///
    /// A candidate that fails its check does not hide what it overlaps: shorter card numbers
    /// inside it, other detectors at the same start, and anything that starts after its first
    /// byte are all still tried (`ssn 123-45-6789 0000`, `4111 1111 1111 1111 0`).
    pub fn for_each_hit(&self, text: &[u8], mut f: impl FnMut(Hit)) {
        let may_match = |g: &&Group| g.needle.as_ref().is_none_or(|n| n.in_text(text));
        let known = self.known.as_ref().map(|k| k.find_all(text)).unwrap_or_default();
        let mut groups = self.groups.iter().filter(may_match);
        match (groups.next(), groups.next()) {
            (None, _) if known.is_empty() => {}
            (Some(one), None) if known.is_empty() => one.for_each_hit(text, f),
            (first, second) => {
                // Known values first at a start: a secret's value is masked whole.
                let mut hits: Vec<(usize, Hit)> = known.into_iter().map(|(start, end)| (0, Hit { start, end, detector: Detector::Secret, from: start })).collect();
                for (i, g) in first.into_iter().chain(second).chain(groups).enumerate() {
                    g.for_each_hit(text, |h| hits.push((i + 1, h)));
                }
                hits.sort_by_key(|(i, h)| (h.start, *i));
                let mut end = 0;
                for (_, mut h) in hits {
                    // A known value overlapping an earlier hit is masked to its end all the same.
                    if h.start < end && h.end > end && h.detector == Detector::Secret {
                        h.start = end;
                        h.from = end;
                    }
                    if h.start >= end {
                        end = h.end;
                        f(h);
                    }
                }
            }
        }
    }
}

/// What a group's every match holds.
#[derive(Debug, Clone)]
enum Needle {
    Byte(u8),
    Words(aho_corasick::AhoCorasick),
}

impl Needle {
    fn in_text(&self, text: &[u8]) -> bool {
        match self {
            Needle::Byte(b) => memchr::memchr(*b, text).is_some(),
            Needle::Words(words) => words.is_match(text),
        }
    }
}

/// Detectors compiled into one automaton.
#[derive(Debug, Clone)]
struct Group {
    /// What every match of the group holds (`@` in URL credentials, a credential word in a
    /// named credential): a text without it is not searched, which keeps a short value's cost near
    /// one search (a Postgres `DataRow` is scanned row by row).
    needle: Option<Needle>,
    regex: Option<Regex>,
    /// Detector of each pattern id.
    owners: Vec<Detector>,
    /// Index of each pattern id among its detector's patterns (a form of that detector).
    forms: Vec<usize>,
}

impl Group {
    /// Compiles `detectors` (duplicates ignored).
    fn new(detectors: &[Detector]) -> Result<Self, String> {
        let mut owners = Vec::new();
        let mut forms = Vec::new();
        let mut patterns = Vec::new();
        let mut seen = Vec::new();
        for d in detectors {
            if seen.contains(d) {
                continue;
            }
            seen.push(*d);
            for (form, p) in d.patterns().iter().enumerate() {
                owners.push(*d);
                forms.push(form);
                patterns.push(*p);
            }
        }
        if patterns.is_empty() {
            return Ok(Group { needle: None, regex: None, owners, forms });
        }
        // Byte-oriented, ASCII classes: keeps the whole set in the lazy DFA (Unicode word
        // boundaries would force the slow engine on non-ASCII text).
        // The named credentials' forms, with their counted repetitions, make many states on
        // base64 text (whose letters hold `pw` and `key` every few hundred bytes, so the needle
        // does not spare it): with the default 2 MiB the lazy DFA's cache refilled and the
        // search ran at 1.8 MB/s; 8 MiB a search at most, 5.9 MB/s.
        let cache = if detectors == [Detector::NamedCredential] { 8 << 20 } else { 2 << 20 };
        let regex = Regex::builder()
            .syntax(syntax::Config::new().unicode(false).utf8(false))
            .configure(Regex::config().hybrid_cache_capacity(cache))
            .build_many(&patterns)
            .map_err(|e| e.to_string())?;
        let needle = match detectors {
            [Detector::UrlCredentials] => Some(Needle::Byte(b'@')),
            // Every form names one of these (`pass` in `requirepass`, `key` in `privkey`; `&` starts a YAML anchor).
            [Detector::NamedCredential] => aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                .build(["pass", "pw", "secret", "token", "key", "credential", "mysql", "redis-cli", "curl", "masterauth", "&", "auth", "salt", "identified", "jwt", "dsn"])
                .ok()
                .map(Needle::Words),
            // An armour, or what every key body's first line holds (see `key_body_start`).
            [Detector::PrivateKey] => aho_corasick::AhoCorasick::builder()
                .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                .build(["-----BEGIN ", "b3BlbnNzaC1rZXktdjE", "IBAAKC", "IBADAN", "CAQAwBQYDK2Vw", "GByqGSM49", "CAQEE", "AgEBB"])
                .ok()
                .map(Needle::Words),
            _ => None,
        };
        Ok(Group { needle, regex: Some(regex), owners, forms })
    }

    /// Whether it holds no detector.
    fn is_empty(&self) -> bool {
        self.regex.is_none()
    }

    /// Calls `f` for each validated hit of this group's detectors in `text`, in order,
    /// non-overlapping (see [`DetectorSet::for_each_hit`]).
    fn for_each_hit(&self, text: &[u8], mut f: impl FnMut(Hit)) {
        let Some(re) = &self.regex else { return };
        let mut pos = 0;
        // Candidates rejected so far: each costs a search and a check, and a text made of
        // nothing else (`1-1-1-…`, a `bytea` of it: red-team round 38) would hold a connection
        // thread for seconds a megabyte. Past the bound the rest is masked as one hit (fail
        // closed: such text is noise, not data anyone reads).
        let mut rejected = 0usize;
        while pos < text.len() {
            let Some(m) = re.search(&Input::new(text).range(pos..)) else { break };
            if rejected >= MAX_REJECTED.max(text.len() / 8) {
                f(Hit { start: m.start(), end: text.len(), detector: self.owner(m.pattern()), from: m.start() });
                return;
            }
            match self.valid_at(re, text, m.pattern(), m.start(), m.end()) {
                Some(mut hit) => {
                    let end = hit.end;
                    if hit.detector == Detector::Bearer {
                        // Keep the scheme word so logs stay readable; only the credential goes.
                        let word = text.get(hit.start..hit.end).and_then(|h| h.iter().rposition(|b| *b == b' ' || *b == b'\t'));
                        hit.start += word.map_or(0, |p| p + 1);
                    }
                    if hit.detector == Detector::NamedCredential {
                        // Keep the name or flag: only the value goes.
                        let h = text.get(hit.start..hit.end).unwrap_or_default();
                        let form = self.forms.get(m.pattern().as_usize()).copied().unwrap_or(0);
                        hit.start += credential_value(h, form).min(h.len().saturating_sub(1));
                    }
                    f(hit);
                    pos = end.max(m.start() + 1);
                }
                None => {
                    // Weighed by its digit groups, which its checks walk: a run of one-digit
                    // groups (`1-1-1-…`) costs a dozen times what a digit run in hex does.
                    let candidate = text.get(m.start()..m.end()).unwrap_or_default();
                    let groups = candidate.iter().enumerate().filter(|&(i, b)| b.is_ascii_digit() && (i == 0 || !candidate.get(i - 1).is_some_and(u8::is_ascii_digit))).count();
                    // And by its length: finding and checking it walked all of it, so a run
                    // of rejected candidates each reaching to its end (`pwd:pwd:…`, round 70:
                    // 200 KB took 31 s) is bounded by bytes walked, not by candidates.
                    rejected += groups.max(1) + (m.end() - m.start()) / 32;
                    pos = m.start() + 1;
                }
            }
        }
    }

    /// The valid hit a candidate `start..end` of pattern `pid` holds, if any.
    fn valid_at(&self, re: &Regex, text: &[u8], pid: PatternID, start: usize, end: usize) -> Option<Hit> {
        let detector = self.owner(pid);
        let (mut start, mut end) = (start, end);
        if matches!(detector, Detector::Card | Detector::Ssn) {
            // The letter the pattern allowed on either side is not part of the number.
            let digits = text.get(start..end).unwrap_or_default();
            let first = digits.iter().position(u8::is_ascii_digit).unwrap_or(0);
            let last = digits.iter().rposition(u8::is_ascii_digit).map_or(digits.len(), |p| p + 1);
            (start, end) = (start + first, start + last);
        }
        let hit = text.get(start..end).unwrap_or_default();
        if detector.validate(hit) && (detector != Detector::NamedCredential || self.credential_at(pid, text, start, end)) {
            // A card whose last group runs on into `-digits` took the first group of what
            // follows (`4111 1111 1111 1111 078-05-1120`): the card without that group wins
            // when it is one, so the SSN after it is still found.
            let runs_on = text.get(end) == Some(&b'-') && text.get(end + 1).is_some_and(u8::is_ascii_digit);
            if detector == Detector::Card && runs_on {
                let last_group = hit.iter().rposition(|b| !b.is_ascii_digit()).unwrap_or(0);
                if let Some((s, e)) = hit.get(..last_group).and_then(card_within) {
                    return Some(Hit { start: start + s, end: start + e, detector, from: start + s });
                }
            }
            return Some(Hit { start, end, detector, from: start });
        }
        if detector == Detector::Card
            && let Some((s, e)) = card_within(hit)
        {
            return Some(Hit { start: start + s, end: start + e, detector, from: start + s });
        }
        // Another detector's pattern at the same start (a card candidate that swallowed an SSN,
        // another form of a credential). Only those that can start where this one did: trying
        // every pattern at every rejected candidate made a run of digits and dashes cost
        // microseconds a byte (red-team round 38).
        let related = |d: Detector| match detector {
            Detector::Card => matches!(d, Detector::Ssn | Detector::Phone | Detector::Ip),
            Detector::NamedCredential => d == Detector::NamedCredential,
            _ => false,
        };
        for other in 0..self.owners.len() {
            let Some(other) = PatternID::new(other).ok().filter(|p| *p != pid && related(self.owner(*p))) else { continue };
            let input = Input::new(text).range(start..).anchored(regex_automata::Anchored::Pattern(other));
            if let Some(m) = re.search(&input) {
                let d = self.owner(other);
                if d.validate(text.get(m.start()..m.end()).unwrap_or_default()) && (d != Detector::NamedCredential || self.credential_at(other, text, m.start(), m.end())) {
                    return Some(Hit { start: m.start(), end: m.end(), detector: d, from: m.start() });
                }
            }
        }
        None
    }

    /// Whether the `credential` candidate `start..end` of pattern `pid` holds a value, not
    /// code: a command substitution with arguments (`$(cat /run/pw)`), `${…}` or a variable
    /// (`$DB_PW`) is code a reviewer must see; an unclosed `$(` is not (red-team round 36:
    /// `sed 's/=/=$(/'` hid a password behind that exemption). A name followed by blanks
    /// (`column -t` layout) must look like an environment variable (an `_` in it, or a whole
    /// credential word), and `PWD`, `OLDPWD` are the shell's directories.
    fn credential_at(&self, pid: PatternID, text: &[u8], start: usize, end: usize) -> bool {
        let form = self.forms.get(pid.as_usize()).copied().unwrap_or(0);
        let hit = text.get(start..end).unwrap_or_default();
        let at = credential_value(hit, form).min(hit.len());
        let (name, value) = hit.split_at(at);
        let word: Vec<u8> = name.iter().copied().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').collect();
        if word.eq_ignore_ascii_case(b"PWD") || word.eq_ignore_ascii_case(b"OLDPWD") {
            return false;
        }
        // Rust's `x: &mut T` is a type, not an anchor named `mut`.
        if form == 15 && hit.windows(5).any(|w| w == b"&mut ") {
            return false;
        }
        if form == 1 && !(word.contains(&b'_') || matches!(word.as_slice(), b"PASSWORD" | b"PASSWD" | b"PASSPHRASE" | b"APIKEY" | b"PRIVKEY")) {
            return false;
        }
        // A nested mapping under the key (`secretKeyRef:` then `  name: db`) is structure.
        if form == 14 {
            let key = value.iter().take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')).count();
            if key > 0 && value.get(key) == Some(&b':') && matches!(value.get(key + 1), None | Some(b' ' | b'\t' | b'\r')) {
                return false;
            }
        }
        // A word ending in a separator is the next name, not this one's value.
        if form == 1 && value.last().is_some_and(|b| matches!(b, b':' | b'=')) {
            return false;
        }
        // The rest of the line, looked at only for `$(` and `${`, and only so far: scanning to
        // the end of a long line for every candidate made a line of `token: token: …` cost
        // time quadratic in its length (red-team round 68: 1 MB held a connection thread for
        // 9 s). A close past the window counts as none: the value is masked (and a reviewer
        // who would not see it whole refuses it).
        const WINDOW: usize = 4096;
        let line_rest = || {
            let rest = text.get(start + at..).unwrap_or_default();
            let rest = rest.get(..WINDOW.min(rest.len())).unwrap_or_default();
            rest.split(|b| *b == b'\n').next().unwrap_or_default()
        };
        if value.starts_with(b"$(") {
            let line_rest = line_rest();
            let closed = line_rest.iter().position(|b| *b == b')');
            let body = closed.and_then(|c| line_rest.get(2..c)).unwrap_or_default();
            return !(closed.is_some() && body.iter().any(|b| *b == b' ' || *b == b'\t'));
        }
        if value.starts_with(b"${") {
            return !line_rest().contains(&b'}');
        }
        if let Some(var) = value.strip_prefix(b"$") {
            return !(var.first().is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_') && var.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_'));
        }
        true
    }

    fn owner(&self, id: PatternID) -> Detector {
        self.owners.get(id.as_usize()).copied().unwrap_or(Detector::Email)
    }
}

/// The longest Luhn-valid card number inside a card-shaped candidate that failed as a whole,
/// starting and ending at its digit groups' edges (so a long id is not cut into a "card").
/// Only windows of 13 to 19 digits are tried, without allocating: a run of one-digit groups
/// (`1-1-1-…`) is made of nothing but rejected candidates.
fn card_within(s: &[u8]) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    let starts = (0..s.len()).filter(|&i| s.get(i).is_some_and(u8::is_ascii_digit) && (i == 0 || !s.get(i - 1).is_some_and(u8::is_ascii_digit)));
    for a in starts {
        let mut digits = 0;
        for (i, b) in s.iter().enumerate().skip(a) {
            if !b.is_ascii_digit() {
                continue;
            }
            digits += 1;
            if digits > 19 {
                break;
            }
            let group_end = !s.get(i + 1).is_some_and(u8::is_ascii_digit);
            if group_end && digits >= 13 && luhn(s.get(a..=i).unwrap_or_default()) && best.is_none_or(|(x, y)| i + 1 - a > y - x) {
                best = Some((a, i + 1));
            }
        }
    }
    best
}

/// Luhn check over the digits of `s` (separators ignored), 13–19 digits.
pub fn luhn(s: &[u8]) -> bool {
    let digits = s.iter().filter(|b| b.is_ascii_digit()).count();
    if !(13..=19).contains(&digits) {
        return false;
    }
    let sum: u32 = s
        .iter()
        .rev()
        .filter(|b| b.is_ascii_digit())
        .map(|b| u32::from(b - b'0'))
        .enumerate()
        .map(|(i, d)| if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d })
        .sum();
    sum.is_multiple_of(10)
}

/// IBAN mod-97 check (spaces ignored).
pub fn iban_ok(s: &[u8]) -> bool {
    let chars: Vec<u8> = s.iter().copied().filter(|b| *b != b' ').collect();
    if !(15..=34).contains(&chars.len()) {
        return false;
    }
    let (head, tail) = chars.split_at(4);
    let mut rem: u32 = 0;
    for &c in tail.iter().chain(head) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 { (rem * 100 + v) % 97 } else { (rem * 10 + v) % 97 };
    }
    rem == 1
}

/// SSN validity: area not 000, 666 or 9xx; group not 00; serial not 0000.
fn ssn_ok(s: &[u8]) -> bool {
    let (Some(area), Some(group), Some(serial)) = (s.get(0..3), s.get(4..6), s.get(7..11)) else {
        return false;
    };
    area != b"000" && area != b"666" && area.first() != Some(&b'9') && group != b"00" && serial != b"0000"
}

#[cfg(test)]
mod tests {
    /// What the default detectors find in `text`, each hit's text in order.
    fn found(text: &str) -> Vec<String> {
        let set = super::DetectorSet::new(&super::Detector::DEFAULT).unwrap();
        let mut hits = Vec::new();
        set.for_each_hit(text.as_bytes(), |h| hits.push(text[h.start..h.end].to_string()));
        hits
    }

    #[test]
    fn all_is_indexed_in_order() {
        for (i, d) in super::Detector::ALL.iter().enumerate() {
            assert_eq!(d.index(), i);
        }
    }

    /// Red-team round 38: text made only of rejected candidates cost microseconds a byte; past
    /// a bound the rest is one hit, and ordinary text is untouched.
    #[test]
    fn a_text_of_rejected_candidates_is_masked_past_a_bound() {
        let set = super::DetectorSet::new(&super::Detector::DEFAULT).unwrap();
        let text = "1-".repeat(30_000);
        let mut hits = Vec::new();
        set.for_each_hit(text.as_bytes(), |h| hits.push(h));
        assert_eq!(hits.len(), 1, "{:?}", hits.first());
        assert!(hits[0].end == text.len() && hits[0].start < 2 * super::MAX_REJECTED + 64, "{:?}", hits[0]);
        // Weighed by its groups, a long run of them is cut short too (round 67: 8 MB of it held
        // a connection thread for 12 s).
        let long = "1 ".repeat(1 << 20);
        let mut hits = Vec::new();
        set.for_each_hit(long.as_bytes(), |h| hits.push(h));
        assert!(hits.len() == 1 && hits[0].start < long.len() / 8, "{:?}", hits.first());
        // Round 70: a run of names glued by `:` makes every candidate reach the run's end.
        let glued = "pwd:".repeat(50_000);
        let mut hits = Vec::new();
        set.for_each_hit(glued.as_bytes(), |h| hits.push(h));
        assert!(hits.last().is_some_and(|h| h.end == glued.len()), "masked to its end, past the bound");
        // Round 68: a line of credential names, each the next one's value, is scanned once (each
        // candidate looked to the end of its line: 1 MB took 9 s). Counted, not timed: the
        // candidates found are all masked, and the `$(` exemption still looks along the line.
        let names = "token: ".repeat(20_000);
        let mut hits = 0;
        set.for_each_hit(names.as_bytes(), |_| hits += 1);
        assert_eq!(hits, 10_000);
        let code = format!("password=$(cat /run/pw){}", " x".repeat(100));
        let mut hits = 0;
        set.for_each_hit(code.as_bytes(), |_| hits += 1);
        assert_eq!(hits, 0, "a command substitution is code, not a value");
        // Hex (a `bytea`) is far below the bound.
        let hex = "6576656e742031".repeat(40_000);
        let mut hits = 0;
        set.for_each_hit(hex.as_bytes(), |_| hits += 1);
        assert_eq!(hits, 0);
        let few = "1-".repeat(500) + " card 4111 1111 1111 1111";
        let mut hits = Vec::new();
        set.for_each_hit(few.as_bytes(), |h| hits.push(h));
        assert_eq!(hits.len(), 1);
        assert_eq!(&few[hits[0].start..hits[0].end], "4111 1111 1111 1111");
    }

    #[test]
    fn anchored_yaml_scalars_are_masked() {
        // Red-team round 78: the value sat under `base`, and the credential's key held its alias.
        assert_eq!(found("base: &p AnchorPassPPP16\npassword: *p\n"), ["AnchorPassPPP16", "*p"]);
        assert_eq!(found("list:\n  - &tok 'abc def'\n"), ["'abc def'"]);
        assert_eq!(found("key: &b |\n  s3cret-line\n"), ["s3cret-line"]);
        assert_eq!(found("&root value"), ["value"]);
        // Not anchored scalars: a mapping's anchor, Rust, shell and query strings.
        for text in ["base: &anchor\n  k: v\n", "let x: &mut Vec<u8> = v;", "a && b; cmd &>/dev/null", "url?a=1&b=2 x", "f(&x, y)"] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
    }

    #[test]
    fn values_named_as_credentials_are_found_names_kept() {
        // Red-team round 34: `printenv` in a pod, through exec, showed `DB_PASSWORD=…` in clear.
        assert_eq!(found("DB_PASSWORD=SuperSecretValue123\nHOME=/root\n"), ["SuperSecretValue123"]);
        // Red-team round 79: a prefix glued to `api_key`, `access_key`, `private_key`.
        for (text, value) in [("MYAPI_KEY=k1", "k1"), ("myapi_key=k2", "k2"), ("XACCESS_KEY=k3", "k3"), ("XPRIVATE_KEY: k4", "k4"), ("{\"XAPI_KEY\": \"k5\"}", "\"k5\""), ("abcsecret_key=k6", "k6")] {
            assert_eq!(found(text), [value], "{text}");
        }
        assert_eq!(found("API_TOKEN=abcdef123 PGPASSWORD=zzz999"), ["abcdef123", "zzz999"]);
        assert_eq!(found("aws_secret_access_key: wJalrXUtnFEMI"), ["wJalrXUtnFEMI"]);
        assert_eq!(found("db_password_file = /run/pw"), ["/run/pw"]);
        // Quoted values (round 35: `.env`, TOML, JSON and Python settings files), and more names.
        assert_eq!(found(r#"DB_PASSWORD="s3cret phrase""#), [r#""s3cret phrase""#]);
        assert_eq!(found(r#"{"password": "hunter2", "user": "a"}"#), [r#""hunter2""#]);
        assert_eq!(found("SECRET_KEY = 'django-insecure-x'"), ["'django-insecure-x'"]);
        assert_eq!(found("SIGNING_KEY=abc123 ENCRYPTION_KEY=def456"), ["abc123", "def456"]);
        // Red-team round 90: more names and flags that hold credentials.
        assert_eq!(found("JWT=eyJx1 SENTRY_DSN=https-dsn SALT=s4lt SESSION_KEY=sk9 STRIPE_KEY=rk_1 SSH_KEY=k22"), ["eyJx1", "https-dsn", "s4lt", "sk9", "rk_1", "k22"]);
        assert_eq!(found("app --signing-key v1 --master-key v2 --hmac v3 --jwt v4 --salt v5 --mode fast"), ["v1", "v2", "v3", "v4", "v5"]);
        // Each alone, where no other credential word lets the search in.
        assert_eq!(found("JWT=eyJx2"), ["eyJx2"]);
        assert_eq!(found("SENTRY_DSN=https-dsn2"), ["https-dsn2"]);
        assert_eq!(found("redis://:pw0rd@cache:6379"), ["redis://:pw0rd@"]);
        // Layouts of the same file (red-team round 36): blanks, a JSON pair, a `$(` that is
        // not a command substitution; a password holding `$` is masked whole.
        assert_eq!(found("DB_PASSWORD            Sup3rS3cret-PGpass"), ["Sup3rS3cret-PGpass"]);
        assert_eq!(found("AWS_SECRET_ACCESS_KEY  wJalrXUtnFEMI/K7MDENG"), ["wJalrXUtnFEMI/K7MDENG"]);
        assert_eq!(found(r#"["DB_PASSWORD","Sup3r,S3cret"]"#), [r#""Sup3r,S3cret""#]);
        assert_eq!(found("DB_PASSWORD=$(Sup3rS3cret-PGpass"), ["$(Sup3rS3cret-PGpass"]);
        assert_eq!(found("DB_PASSWORD=Pa$$w0rd"), ["Pa$$w0rd"]);
        // Round 38: a separator with blanks around it, lower case with blanks or a tab, and
        // camelCase or fused names.
        for (text, value) in [
            ("DB_PASSWORD = Sup3r", "Sup3r"),
            ("DB_PASSWORD := Sup3r", "Sup3r"),
            ("AWS_SECRET_ACCESS_KEY : \"wJal\"", "\"wJal\""),
            ("db_password\tSup3r", "Sup3r"),
            ("Db_Password  Sup3r", "Sup3r"),
            ("\"dbPassword\": \"Sup3r\",", "\"Sup3r\""),
            ("  dbPassword: Sup3r", "Sup3r"),
            ("jdbc.dbPassword=Sup3r", "Sup3r"),
            ("{\"authToken\":\"Sup3r\"}", "\"Sup3r\""),
            ("clientSecret = \"Sup3r\"", "\"Sup3r\""),
            ("adminPwd=Sup3r", "Sup3r"),
            ("GITHUBTOKEN=Sup3r", "Sup3r"),
            ("ADMINPASSWORD=Sup3r", "Sup3r"),
            ("SECRETKEY=Sup3r", "Sup3r"),
            ("PASSPHRASE=Sup3r", "Sup3r"),
            ("dbpassword=Sup3r", "Sup3r"),
            // Red-team SSH round 83: PascalCase, and long fused names.
            ("{\"AzureAd\": {\"ClientSecret\": \"Sup3r\"}}", "\"Sup3r\""),
            ("  \"AdminPassword\": \"Sup3r\",", "\"Sup3r\""),
            ("MasterUserPassword = Sup3r", "Sup3r"),
            ("DbPassword=Sup3r", "Sup3r"),
            ("AccessToken=Sup3r", "Sup3r"),
            ("DbPasswd=Sup3r", "Sup3r"),
            ("PrimaryReplicationClusterAdminPassword=Sup3r", "Sup3r"),
            ("primaryreplicationclusterdbpassword=Sup3r", "Sup3r"),
            ("export ldapbindserviceaccountuserpassword=Sup3r", "Sup3r"),
            ("SPRING_DATASOURCE_PRIMARYREPLICATIONCLUSTERPASSWORD=Sup3r", "Sup3r"),
            ("oauthclientsecret=Sup3r", "Sup3r"),
            // Red-team SSH round 93: an acronym glued to the word.
            ("SMTPpassword=Sup3r", "Sup3r"),
            ("LDAPsecret: Sup3r", "Sup3r"),
            ("DBpass=Sup3r", "Sup3r"),
            ("$DBpassword = 'Sup3r';", "'Sup3r'"),
            ("KEYpassword: Sup3r", "Sup3r"),
            // Round 94: the other way round, and mixed.
            ("smtpPASSWORD=Sup3r", "Sup3r"),
            ("dbPWD=Sup3r", "Sup3r"),
            ("apiTOKEN: Sup3r", "Sup3r"),
            ("SessionSECRET=Sup3r", "Sup3r"),
            ("AdminPASS=Sup3r", "Sup3r"),
            ("awsSECRETkey=Sup3r", "Sup3r"),
            ("\"dbPASSWORD\": \"Sup3r\"", "\"Sup3r\""),
            ("REDISauth=Sup3r", "Sup3r"),
            ("redisAUTH=Sup3r", "Sup3r"),
            ("ROOTpw=Sup3r", "Sup3r"),
            ("rootPW=Sup3r", "Sup3r"),
            ("SmTpPaSsWoRd=Sup3r", "Sup3r"),
            ("db2PASSWORD=Sup3r", "Sup3r"),
            // Round 95.
            ("secretKey=Sup3r", "Sup3r"),
            ("SeCrEtKeY: Sup3r", "Sup3r"),
            ("authKey=Sup3r", "Sup3r"),
            ("PassKey=Sup3r", "Sup3r"),
            ("userPassPhrase=Sup3r", "Sup3r"),
            ("PASSphrase: Sup3r", "Sup3r"),
            // Round 96.
            ("authtoken=Sup3r", "Sup3r"),
            ("masterPass=Sup3r", "Sup3r"),
            ("DB_ROOTPASS=Sup3r", "Sup3r"),
            ("adminpwd: Sup3r", "Sup3r"),
            ("PassCode=Sup3r", "Sup3r"),
            ("encKey=Sup3r", "Sup3r"),
            ("SignKEY=Sup3r", "Sup3r"),
        ] {
            assert_eq!(found(text), [value], "{text}");
        }
        for kept in ["PASS  src/app.test.js", "TOKEN EXPIRED", "password reset link", "tokens=5", "bypass=all", "compass=north", "DB_PASSWORD - ok", "PWD    /home/agent", "the password reset link", "DB_PASSWORD=$DB_PW", "DB_PASSWORD=${DB_PW}", "X_TOKEN=$(vault read -field=t x)"] {
            assert!(found(kept).is_empty(), "{kept}: {:?}", found(kept));
        }
        // Round 38: whole-file layouts.
        assert_eq!(found("machine db login app password NetrcPw9\n"), ["NetrcPw9"]);
        assert_eq!(found("port 6379\nrequirepass RedisPw9\n"), ["RedisPw9"]);
        assert_eq!(found("<db><password>XmlPw9</password></db>"), ["XmlPw9"]);
        assert_eq!(found("db:\n  password:\n    YamlNext9\n  host: x\n"), ["YamlNext9"]);
        assert_eq!(found("db:\n  password: |\n    YamlBlock9\n"), ["YamlBlock9"]);
        assert!(found("valueFrom:\n  secretKeyRef:\n    name: db\n    key: pw\n").is_empty());
        // Command lines: history files, scripts, `ps` (the flag and the user stay).
        assert_eq!(found("mysql -u root -pS3cr3t shop"), ["S3cr3t"]);
        assert_eq!(found("mysqldump --host db -h x -pab=c db > d.sql"), ["ab=c"]);
        assert_eq!(found("psql --password hunter2x"), ["hunter2x"]);
        assert_eq!(found("kubectl --token eyJabc.def get pods"), ["eyJabc.def"]);
        assert_eq!(found("sshpass -p 'pw 1' ssh host"), ["'pw 1'"]);
        assert_eq!(found("sshpass -pPw0rd ssh host"), ["Pw0rd"]);
        assert_eq!(found("redis-cli -h cache -a Red1sPw ping"), ["Red1sPw"]);
        assert_eq!(found("curl -s -u admin:Adm1n:pw https://x"), ["Adm1n:pw"]);
        // Round 38: the flag first.
        assert_eq!(found("mysql -pS3cr3t"), ["S3cr3t"]);
        assert_eq!(found("redis-cli -a Red1sPw ping"), ["Red1sPw"]);
        assert_eq!(found("curl -u admin:CurlPw https://x"), ["CurlPw"]);
        assert_eq!(found("curl --user=admin:CurlPw2 https://x"), ["CurlPw2"]);
        for kept in ["mysql -p shop", "mkdir -pv /x", "mysql --protocol tcp", "ls --token-file f", "curl -u admin https://x", "tar --password-file f", "redis-cli -a -n 2"] {
            assert!(found(kept).is_empty(), "{kept}: {:?}", found(kept));
        }
        for kept in ["PWD=/home/agent", "compass=north", "bypass=all_checks", "passenger: 3", "tokens=5", "Password:", "PGPASSWORD=$(cat /run/pw) psql", r#"TOKEN="$(curl -s evil)""#, "author: Jane", "primary_key: id"] {
            assert!(found(kept).is_empty(), "{kept}: {:?}", found(kept));
        }
    }

    #[test]
    fn an_address_before_two_numbers_is_found() {
        let set = super::DetectorSet::new(&super::Detector::DEFAULT).unwrap();
        for text in [
            "ewd@example.nl 4111 1111 1111 1111 123-45-6789",
            "alan.turing@example.org|5500 0000 0000 0004|234-56-7890",
            "aaaaaaa@ex.com 4111 1111 1111 1111 4111 1111 1111 1111",
        ] {
            let mut hits = Vec::new();
            set.for_each_hit(text.as_bytes(), |h| hits.push((h.detector, text[h.start..h.end].to_string())));
            assert_eq!(hits.first().map(|h| h.0), Some(super::Detector::Email), "{text}: {hits:?}");
        }
    }

    #[test]
    fn numbers_glued_to_letters_are_found() {
        let set = super::DetectorSet::new(&super::Detector::DEFAULT).unwrap();
        let text = b"acct4111111111111111 ssn078-05-1120x id_4111 1111 1111 1111_end";
        let mut hits = Vec::new();
        set.for_each_hit(text, |h| hits.push((h.detector, String::from_utf8_lossy(&text[h.start..h.end]).into_owned())));
        assert_eq!(
            hits,
            vec![
                (super::Detector::Card, "4111111111111111".to_string()),
                (super::Detector::Ssn, "078-05-1120".to_string()),
                (super::Detector::Card, "4111 1111 1111 1111".to_string())
            ]
        );
    }

    #[test]
    fn a_card_does_not_take_the_first_group_of_an_ssn_after_it() {
        let set = super::DetectorSet::new(&super::Detector::DEFAULT).unwrap();
        // 4111111111111111 followed by each three digits whose 19-digit run passes Luhn.
        for n in 0..1000 {
            let text = format!("4111 1111 1111 1111 {n:03}-05-1120");
            let mut hits = Vec::new();
            set.for_each_hit(text.as_bytes(), |h| hits.push(h.detector));
            assert!(hits.contains(&super::Detector::Ssn) || !super::ssn_ok(format!("{n:03}-05-1120").as_bytes()), "{text}: {hits:?}");
        }
    }

    use super::*;

    fn hits(text: &str, set: &[Detector]) -> Vec<(String, Detector)> {
        let d = DetectorSet::new(set).unwrap();
        let mut out = vec![];
        d.for_each_hit(text.as_bytes(), |h| out.push((text[h.start..h.end].to_string(), h.detector)));
        out
    }

    /// Detectors in different automata: hits come in order, and where two overlap the one that
    /// starts first wins, as in one automaton.
    #[test]
    fn hits_of_separate_automata_are_merged_in_order() {
        let all = Detector::DEFAULT;
        let url = "see postgres://app:s3cretpw@db.example/orders";
        let got = hits(url, &all);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].1, Detector::UrlCredentials, "{got:?}");
        let mixed = "mail ann@corp.example then password=hunter2 then card 4111 1111 1111 1111";
        let got: Vec<Detector> = hits(mixed, &all).into_iter().map(|(_, d)| d).collect();
        assert_eq!(got, [Detector::Email, Detector::NamedCredential, Detector::Card]);
    }

    /// Red-team Postgres round 105: cards in hex data were once left alone (to spare UUIDs
    /// and digests a rare false match, compatibility round 2), and an agent glued hex around a
    /// card from a column not known to hold cards and read it in clear. Cards are found in hex
    /// data too; a UUID's decimal run that passes the check is masked, a documented cost.
    #[test]
    fn cards_glued_into_hex_are_found() {
        let all = Detector::DEFAULT;
        for text in [r"\x5500000000000004", "deadbeefdeadbeef4111111111111111cafecafe", "card4111111111111111"] {
            assert!(hits(text, &all).iter().any(|(_, d)| *d == Detector::Card), "{text}: {:?}", hits(text, &all));
        }
    }

    #[test]
    fn finds_each_kind() {
        let all = Detector::DEFAULT;
        assert_eq!(hits("mail bob.smith+x@mail.example.com now", &all), [("bob.smith+x@mail.example.com".into(), Detector::Email)]);
        for (text, address) in [("alice.smith@corp.example_2024.pdf", "alice.smith@corp.example"), ("bob@corp.com_backup", "bob@corp.com"), ("x ann@corp.example2 y", "ann@corp.example")] {
            assert_eq!(hits(text, &all), [(address.into(), Detector::Email)], "{text}");
        }
        assert_eq!(hits("card 4111 1111 1111 1111.", &all), [("4111 1111 1111 1111".into(), Detector::Card)]);
        assert_eq!(hits("card 4111-1111-1111-1112", &all), [], "Luhn rejects");
        assert_eq!(hits("iban DE89 3704 0044 0532 0130 00", &all), [("DE89 3704 0044 0532 0130 00".into(), Detector::Iban)]);
        assert_eq!(hits("iban DE88 3704 0044 0532 0130 00", &all), []);
        assert_eq!(hits("ssn 123-45-6789", &all), [("123-45-6789".into(), Detector::Ssn)]);
        assert_eq!(hits("ssn 666-45-6789 000-12-3456", &all), []);
        // A failed candidate hides nothing it overlaps.
        assert_eq!(hits("4111 1111 1111 1111 0", &all), [("4111 1111 1111 1111".into(), Detector::Card)]);
        assert_eq!(hits("ssn 123-45-6789 0000", &all), [("123-45-6789".into(), Detector::Ssn)]);
        assert_eq!(
            hits("123-45-6789 4111 1111 1111 1111", &all),
            [("123-45-6789".into(), Detector::Ssn), ("4111 1111 1111 1111".into(), Detector::Card)]
        );
        assert_eq!(hits("order 12345678901234567 shipped", &all), [], "a long id is not cut into a card");
        assert_eq!(hits("key AKIAIOSFODNN7EXAMPLE", &all), [("AKIAIOSFODNN7EXAMPLE".into(), Detector::CloudKey)]);
        assert_eq!(
            hits("Authorization: Bearer abcdefghijklmnop1234", &all),
            [("abcdefghijklmnop1234".into(), Detector::Bearer)]
        );
        for line in ["Authorization-ish: Basic dXNlcjpwYXNzd29yZDEyMw==", "authorization_header=\"Basic dXNlcjpwYXNzd29yZDEyMw==\""] {
            assert_eq!(hits(line, &all), [("dXNlcjpwYXNzd29yZDEyMw==".into(), Detector::Bearer)], "{line}");
        }
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
        assert_eq!(hits(&format!("t={jwt}"), &all), [(jwt.into(), Detector::Jwt)]);
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\nabc\n-----END RSA PRIVATE KEY-----";
        assert_eq!(hits(&format!("x\n{pem}\ny"), &all), [(pem.into(), Detector::PrivateKey)]);
    }

    /// SSH red-team round 98: a key printed without its BEGIN or END line.
    #[test]
    fn private_keys_are_found_without_their_armour() {
        let body = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACDq0VSWcUh6T1s8d9rFq0y1u2w3v4x5y6z7A8B9C0D1EAAAAJD2nS6r9p0u\nqwAAAAtzc2gtZWQyNTUxOQAAACDq0VSWcUh6T1s8d9rFq0y1u2w3v4x5y6z7A8B9C0D1EA==";
        let end = "-----END OPENSSH PRIVATE KEY-----";
        let all = [Detector::PrivateKey];
        // Without BEGIN (`sed 1d`), without either (`grep -v`), without END (`head -n -1`).
        assert_eq!(hits(&format!("{body}\n{end}\nafter"), &all), [(format!("{body}\n{end}"), Detector::PrivateKey)]);
        assert_eq!(hits(&format!("{body}\nplain words"), &all), [(body.to_string(), Detector::PrivateKey)]);
        let open = format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{body}");
        assert_eq!(hits(&format!("{open}\nbye now"), &all), [(open.clone(), Detector::PrivateKey)]);
        // The first lines of other formats' bodies, as OpenSSL and ssh-keygen write them.
        for first in [
            "MIIEowIBAAKCAQEAtHFL25ImLSevf1",
            "MIIJKQIBAAKCAgEAtuH3gfYRQkO8NI",
            "MIIEvgIBADANBgkqhkiG9w0BAQEFAA",
            "MC4CAQAwBQYDK2VwBCIEIMnszGt3tl",
            "MHcCAQEEIKmV1P8MOf2eYMS2XyCJpI",
            "MIG2AgEAMBAGByqGSM49AgEGBSuBBA",
            "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49",
        ] {
            assert_eq!(hits(&format!("{first}\nxyz"), &all).len(), 1, "{first}");
        }
        // Ordinary base64 is not a key.
        assert_eq!(hits("aGVsbG8gd29ybGQgdGhpcyBpcyBub3QgYSBrZXk=\nU29tZSBtb3JlIHRleHQ=", &all), []);
    }

    #[test]
    fn opt_in_detectors_are_off_by_default() {
        assert_eq!(hits("at 10.1.2.3 call 555-123-4567", &Detector::DEFAULT), []);
        assert_eq!(hits("at 10.1.2.3", &[Detector::Ip]), [("10.1.2.3".into(), Detector::Ip)]);
        assert_eq!(hits("v 1.2.3.999", &[Detector::Ip]), []);
        assert_eq!(hits("call 555-123-4567", &[Detector::Phone]).len(), 1);
    }

    #[test]
    fn no_false_hits_on_ordinary_text() {
        let text = "2024-01-02 12:34:56 order 12345 shipped; version 1.2.3; id=550e8400-e29b-41d4-a716-446655440000";
        assert_eq!(hits(text, &Detector::DEFAULT), []);
    }

    /// Red-team round 80: layouts whose values came back in clear from `cat`.
    #[test]
    fn more_credential_layouts_are_found() {
        for (text, value) in [
            ("    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo=", "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo="),
            (r#"{"auths": {"r.example": {"auth": "dXNlcjpEb2NrZXJQYXNzOTk="}}}"#, "dXNlcjpEb2NrZXJQYXNzOTk="),
            ("define('DB_PASSWORD', 'wp-S3cret!');", "wp-S3cret!"),
            (r#"define( "AUTH_SALT", "salty-k3y" );"#, "salty-k3y"),
            (r#"<add name="DbPassword" value="xml-S3cret"/>"#, "xml-S3cret"),
            (r#"<property key='api.token' value='tok-777'/>"#, "tok-777"),
            ("GRANT ALL ON *.* TO 'u'@'%' IDENTIFIED BY 'my-Pa55';", "my-Pa55"),
            ("create role etl login password 'pg-Pa55';", "pg-Pa55"),
            ("pw=plainpw9", "plainpw9"),
            ("DB_PASSWORD ?= make-S3cret", "make-S3cret"),
            ("DB_PASSWORD: !!str yaml-S3cret", "yaml-S3cret"),
            ("db_password: !!str yaml-S3cret", "yaml-S3cret"),
        ] {
            let got = found(text);
            assert!(got.iter().any(|h| h.contains(value)), "{text}: {got:?}");
        }
        let slack = hits("hook https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX", &Detector::DEFAULT);
        assert!(slack.len() == 1 && slack[0].1 == Detector::CloudKey, "{slack:?}");
        // Not credentials.
        for kept in [r#""auth": "none""#, "client-key-data: short", "define('DEBUG', true);", "pwd=/home/u"] {
            assert!(found(kept).is_empty(), "{kept}: {:?}", found(kept));
        }
    }
}

