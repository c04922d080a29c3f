//! Which values of a Secret list are searched for, and in which spellings: each value whole
//! (as written, trimmed, as a reader sees it), the credentials inside a structured value (a
//! Docker config, a JSON credentials file, an env file, a config file's credential lines) and a
//! multi-line value's token-shaped lines.

use super::shape::{is_public_address, searchable};
use super::{MAX_VALUE, MIN_UNNAMED, spellings};
use hoop_core::mask::Masker;

/// The values of a Secret list worth searching for, in every spelling searched, and how many
/// values they come from: each value named like a credential, or long enough not to be an
/// ordinary word (see [`whole`], [`inner`], [`lines`]); certificates (public), Helm's release
/// records (the chart's own compressed state) and values over [`MAX_VALUE`] left out.
pub(super) fn values_of(m: &Masker, list: &serde_json::Value) -> (Vec<Vec<u8>>, usize) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::new();
    let mut sources = 0;
    let items = list.get("items").and_then(|i| i.as_array()).map(Vec::as_slice).unwrap_or_default();
    for item in items {
        if item.get("type").and_then(|t| t.as_str()).is_some_and(|t| t.starts_with("helm.sh/release")) {
            continue;
        }
        let Some(data) = item.get("data").and_then(|d| d.as_object()) else { continue };
        for (key, v) in data {
            let Some(value) = v.as_str().and_then(|s| b64.decode(s).ok()) else { continue };
            if is_certificate(key, &value) || value.len() > MAX_VALUE {
                continue;
            }
            let before = out.len();
            whole(&value, crate::mask::is_credential_name(m, key), &mut out);
            inner(m, &value, &mut out);
            lines(value.trim_ascii(), &mut out);
            sources += usize::from(out.len() > before);
        }
    }
    (out, sources)
}

/// A value itself (`named` like a credential or not): as written, trimmed, and as a reader sees
/// it (control and invisible characters skipped, as masking reads what it searches: red-team
/// round 93), each in the spellings copies take.
fn whole(value: &[u8], named: bool, out: &mut Vec<Vec<u8>>) {
    let worth = |v: &[u8]| searchable(v, named);
    let trimmed = value.trim_ascii();
    if worth(value) {
        spellings::spellings(value, out, MIN_UNNAMED);
    }
    // Trimmed: as text in full; encoded only when short (a file's encodings are made from its
    // bytes, trailing line break included, and a long value's would double its share of the
    // search).
    if trimmed.len() != value.len() && worth(trimmed) {
        if trimmed.len() > spellings::MAX_ENCODED {
            spellings::text_spellings(trimmed, out);
        } else {
            spellings::spellings(trimmed, out, MIN_UNNAMED);
        }
    }
    // (Only as it is: a copy is encoded from the bytes, not from what a reader sees.)
    let seen = hoop_core::mask::as_seen(trimmed);
    if worth(&seen) {
        out.push(seen);
    }
}

/// The credentials inside a structured value: a Docker config's password and `auth`, a JSON
/// credentials file's named fields, an env file's `PASSWORD=` lines, in every spelling
/// (red-team round 95: a `.dockerconfigjson`'s password copied alone came back in clear); and
/// the pieces of it that look like credentials, whatever names them (round 97: `requirepass …`
/// in a redis.conf, `psk="…"`, a .pgpass or .netrc line, a URL's user token, a webhook's path).
fn inner(m: &Masker, value: &[u8], out: &mut Vec<Vec<u8>>) {
    for (name, inner) in inner_values(value) {
        if crate::mask::is_credential_name(m, &name) && searchable(&inner, true) {
            spellings::spellings(&inner, out, MIN_UNNAMED);
        }
    }
    // (Pieces as they are: each spelling of every piece would crowd the search. Not of a PEM
    // block, whose lines are searched whole by `lines`.)
    if memchr::memmem::find(value, b"-----BEGIN ").is_none() {
        out.extend(credential_tokens(value));
    }
}

/// The lines of a multi-line value shaped like a key's or a token's (no blank, `=` or `:`: a
/// config file's ordinary lines would mask that text in every file, round 96; its named
/// settings are searched by [`inner`]), and a short line (a PEM body's last) with the line
/// before it (round 93).
fn lines(trimmed: &[u8], out: &mut Vec<Vec<u8>>) {
    if !trimmed.contains(&b'\n') {
        return;
    }
    let lines: Vec<&[u8]> = trimmed.split(|b| *b == b'\n').map(<[u8]>::trim_ascii).collect();
    let token_like = |l: &[u8]| !l.iter().any(|b| b.is_ascii_whitespace() || matches!(b, b'=' | b':'));
    out.extend(lines.iter().filter(|l| token_like(l) && searchable(l, false)).map(|l| l.to_vec()));
    for pair in lines.windows(2) {
        if let [before, short] = pair
            && short.len() < MIN_UNNAMED
            && !short.is_empty()
            && before.len() >= MIN_UNNAMED
        {
            let mut joined = before.to_vec();
            joined.push(b'\n');
            joined.extend_from_slice(short);
            out.push(joined);
        }
    }
}

/// Words that make a line of a config file a credential's (`requirepass`, `psk=`, `password`,
/// a webhook's URL), lower case.
const CREDENTIAL_CONTEXT: &[&str] = &["pass", "pwd", "secret", "token", "psk", "auth", "credential", "hook", "dsn", "apikey", "api_key", "api-key", "private"];

/// The credentials inside a structured value, whatever names them: on each line that speaks of
/// one (see [`CREDENTIAL_CONTEXT`]), the pieces (split at blanks, quotes, `=`, `:` and angle
/// brackets) of 6 bytes or more that are neither words nor addresses nor letters only (a
/// Helm values file's `topologyKey`); a URL's password (`https://user:PASSWORD@host`); a
/// `.pgpass` line's last field. Lines that speak of no credential give none (red-team round
/// 98: every 16-byte word of a manifest in a Secret, `creationTimestamp` included, was masked
/// in every object).
fn credential_tokens(value: &[u8]) -> Vec<Vec<u8>> {
    let Ok(text) = std::str::from_utf8(value) else { return Vec::new() };
    let whole = text.trim();
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut add = |t: &str| {
        if out.len() < MAX_INNER && t != whole && t.len() >= hoop_core::mask::known::MIN_LEN && !out.iter().any(|o| o == t.as_bytes()) {
            out.push(t.as_bytes().to_vec());
        }
    };
    for line in text.lines().take(MAX_INNER * 4) {
        let line = line.trim();
        let lower = line.to_ascii_lowercase();
        let context = CREDENTIAL_CONTEXT.iter().any(|w| lower.contains(w));
        // A URL's user password; on a line that speaks of a credential, its path and query
        // pieces shaped like tokens (a webhook's `…/T0/B0/TOKEN`).
        let mut rest = line;
        while let Some(at) = rest.find("://") {
            let after = rest.get(at + 3..).unwrap_or_default();
            let url = after.split([' ', '"', '\'']).next().unwrap_or_default();
            let authority = url.split('/').next().unwrap_or_default();
            if let Some((userinfo, _)) = authority.rsplit_once('@')
                && let Some((_, password)) = userinfo.split_once(':')
            {
                add(password);
            }
            if context {
                for piece in url.get(authority.len()..).unwrap_or_default().split(['/', '?', '&', '=', '#']) {
                    let mixed = piece.chars().any(char::is_alphabetic) && piece.chars().any(|c| c.is_ascii_digit());
                    if (piece.len() >= 12 && mixed) || (piece.len() >= 20 && searchable(piece.as_bytes(), false)) {
                        add(piece);
                    }
                }
            }
            rest = after;
        }
        // A .pgpass line: host:port:database:user:password.
        let fields: Vec<&str> = line.splitn(5, ':').collect();
        if let [_, port, _, _, password] = fields.as_slice()
            && (port.is_empty() || *port == "*" || port.bytes().all(|b| b.is_ascii_digit()))
            && !line.contains(' ')
        {
            // As written, and as libpq reads it (`\:` and `\\` escaped: red-team round 99).
            add(password);
            add(&password.replace("\\:", ":").replace("\\\\", "\\"));
        }
        if !context {
            continue;
        }
        // (A URL's rest after its scheme's `:` was read above.)
        for token in line.split(|c: char| c.is_whitespace() || "=:\"'<>`".contains(c)).filter(|t| !t.starts_with("//")) {
            // (A setting's name, `api_key`, `secretKeyRef`, or a path, `/password` of an XML
            // closing tag, is letters and separators only: red-team round 99.)
            let name_like = token.chars().all(|c| c.is_alphabetic() || matches!(c, '_' | '-' | '.' | '/'));
            if !name_like && searchable(token.as_bytes(), true) && !is_public_address(token, false) && !token.contains("://") {
                add(token);
            }
        }
    }
    out
}

/// Most fields read inside one structured value.
const MAX_INNER: usize = 256;

/// The named values inside a Secret's value, each with its name: the string fields of a JSON
/// document at any depth (a Docker config's `auths.*.password`, a cloud credentials file), a
/// Docker `auth` field's `user:password` and its password, and the `NAME=value` or `name: value`
/// lines of an env or properties file (quotes and `export` taken off). Only those named like
/// credentials are searched (see `values_of`): other fields of such files are public
/// addresses and ids.
fn inner_values(value: &[u8]) -> Vec<(String, Vec<u8>)> {
    use base64::Engine;
    let mut out = Vec::new();
    if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(value) {
        let mut stack: Vec<(String, &serde_json::Value, usize)> = vec![(String::new(), &doc, 0)];
        while let Some((name, v, depth)) = stack.pop() {
            if out.len() >= MAX_INNER {
                break;
            }
            match v {
                serde_json::Value::String(s) => {
                    if name.eq_ignore_ascii_case("auth")
                        && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(s.trim())
                        && let Some(colon) = decoded.iter().position(|b| *b == b':')
                    {
                        out.push(("password".to_string(), decoded.get(colon + 1..).unwrap_or_default().to_vec()));
                        out.push(("auth".to_string(), decoded));
                    }
                    out.push((name, s.clone().into_bytes()));
                }
                serde_json::Value::Object(o) if depth < 16 => stack.extend(o.iter().map(|(k, v)| (k.clone(), v, depth + 1))),
                serde_json::Value::Array(a) if depth < 16 => stack.extend(a.iter().map(|v| (name.clone(), v, depth + 1))),
                _ => {}
            }
        }
        return out;
    }
    for line in value.split(|b| *b == b'\n').take(MAX_INNER * 4) {
        let line = String::from_utf8_lossy(line);
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some(at) = line.find(['=', ':']) else { continue };
        let (name, rest) = line.split_at(at);
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) || name.starts_with('#') {
            continue;
        }
        let v = rest.get(1..).unwrap_or_default().trim();
        let v = ['"', '\''].iter().find_map(|q| v.strip_prefix(*q).and_then(|x| x.strip_suffix(*q))).unwrap_or(v);
        if !v.is_empty() && out.len() < MAX_INNER {
            out.push((name.to_string(), v.as_bytes().to_vec()));
        }
    }
    out
}

/// A public certificate (a TLS Secret's `tls.crt`, a token's `ca.crt`): the same in every
/// namespace's `kube-root-ca.crt` ConfigMap, and nobody's secret.
fn is_certificate(key: &str, value: &[u8]) -> bool {
    let pem = |marker: &[u8]| memchr::memmem::find(value, marker).is_some();
    (key.ends_with(".crt") || key.ends_with("ca-bundle") || pem(b"-----BEGIN CERTIFICATE-----")) && !pem(b"PRIVATE KEY")
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoop_core::mask::KnownValues;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn values_worth_masking() {
        let m = Masker::new(&hoop_core::mask::MaskConfig::default(), None).unwrap();
        let e = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
        let list = json!({"items": [
            {"data": {"password": e("hunter22"), "username": e("postgres"), "port": e("5432"), "dsn": e("host=db user=app dbname=shop\n")}},
            {"type": "kubernetes.io/tls", "data": {"tls.crt": e("-----BEGIN CERTIFICATE-----\nMIIBxzCCAW2gAwIBAgIUabcdefghijklmnop\n-----END CERTIFICATE-----\n"), "tls.key": e("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n")}},
            {"data": {"broken": "not base64!"}}]});
        let (values, sources) = values_of(&m, &list);
        assert_eq!(sources, 3, "password, dsn, tls.key");
        let has = |v: &str| values.iter().any(|x| x == v.as_bytes());
        assert!(has("hunter22") && has(&e("hunter22")), "named: masked from 6 bytes");
        assert!(!has("postgres") && !has("5432"), "short and unnamed: ordinary words");
        assert!(has("host=db user=app dbname=shop") && has("host=db user=app dbname=shop\n"));
        assert!(has("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), "a private key, line by line");
        assert!(!has("MIIBxzCCAW2gAwIBAgIUabcdefghijklmnop"), "a certificate is public");
        let k = Arc::new(KnownValues::new(values).unwrap());
        let masked = m.with_known(k);
        assert_eq!(masked.mask_text("APP_SETTING=x hunter22 postgres"), "APP_SETTING=x [REDACTED:secret] postgres");
    }

    #[test]
    fn credentials_inside_structured_values_are_found() {
        // Red-team round 95: a `.dockerconfigjson`'s password and `auth`, copied alone.
        let m = Masker::new(&hoop_core::mask::MaskConfig::default(), None).unwrap();
        let e = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
        let docker = format!(r#"{{"auths":{{"registry.example.com":{{"username":"robot","password":"Rtk95DockerRegPw55","auth":"{}"}}}}}}"#, e("robot:Rtk95DockerRegPw55"));
        let env = "# app\nexport DB_PASSWORD='Rtk95EnvPw1'\nDB_HOST=db.internal.example.com\napi_key: Rtk95Key42\n";
        let list = json!({"items": [{"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": e(&docker)}}, {"data": {"app.env": e(env)}}]});
        let masked = m.with_known(Arc::new(KnownValues::new(values_of(&m, &list).0).unwrap()));
        for (copy, clear) in [
            ("REGISTRY_PASSWORD_COPY=x Rtk95DockerRegPw55".to_string(), "DockerRegPw"),
            (format!("auth {}", e("robot:Rtk95DockerRegPw55")), "cm9ib3Q6"),
            ("pw Rtk95EnvPw1 end".into(), "EnvPw"),
            ("k Rtk95Key42 end".into(), "Key42"),
        ] {
            let out = masked.mask_text(&copy).into_owned();
            assert!(out.contains("[REDACTED:secret]") && !out.contains(clear), "{copy}: {out}");
        }
        // Public fields of such files are not values to mask.
        assert_eq!(masked.mask_text("host db.internal.example.com user robot"), "host db.internal.example.com user robot");
    }

    #[test]
    fn credentials_in_config_files_are_found() {
        // Red-team round 97: pieces of config files stored in Secrets came back in clear.
        let m = Masker::new(&hoop_core::mask::MaskConfig::default(), None).unwrap();
        let e = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
        let files = [
            ("redis.conf", "bind 127.0.0.1\nrequirepass RedisConfPw8Qz\nport 6379\n"),
            ("wpa.conf", "network={\n  ssid=\"home\"\n  psk=\"WpaPskQz8XrWm\"\n}\n"),
            (".pgpass", "db.internal:5432:app:appuser:Pgpass9WordX\n"),
            (".git-credentials", "https://bot:ghp_Rtk97TokenValue0123456789@github.com\n"),
            ("hook", "url: https://hooks.slack.com/services/T0001/B0002/Rtk97SlackHookTokenXyz\n"),
        ];
        let data: serde_json::Map<String, serde_json::Value> = files.iter().map(|(k, v)| (k.to_string(), json!(e(v)))).collect();
        let masked = m.with_known(Arc::new(KnownValues::new(values_of(&m, &json!({"items": [{"data": data}]})).0).unwrap()));
        for (copy, clear) in [
            ("auth RedisConfPw8Qz ok", "RedisConf"),
            ("psk=\"WpaPskQz8XrWm\"", "WpaPsk"),
            ("password Pgpass9WordX", "Pgpass9"),
            ("token ghp_Rtk97TokenValue0123456789", "Rtk97Token"),
            ("POST /services/T0001/B0002/Rtk97SlackHookTokenXyz 200", "SlackHook"),
        ] {
            let out = masked.mask_text(copy).into_owned();
            assert!(out.contains("[REDACTED:secret]") && !out.contains(clear), "{copy}: {out}");
        }
        // Their ordinary pieces are not values.
        let plain = "bind 127.0.0.1 port 6379 ssid home db.internal:5432 github.com network";
        assert_eq!(masked.mask_text(plain), plain);
    }

    #[test]
    fn config_files_in_secrets_give_their_credentials_only() {
        // Red-team round 98: a manifest's and a config file's ordinary words were masked in
        // every object; credentials with punctuation were not found.
        let m = Masker::new(&hoop_core::mask::MaskConfig::default(), None).unwrap();
        let e = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
        let manifest = "metadata:\n  creationTimestamp: null\nspec:\n  serviceAccountName: default\n  terminationGracePeriodSeconds: 30\n  affinity:\n    topologyKey: kubernetes.io/hostname\n  uid: 6f1c9a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b\n";
        let conf = "lang=en_US.UTF-8\narch x86_64-linux-gnu\ncharset ISO8859-1\npassword = Zk8+Qm3/Xp7w\npsk=\"Ps98Qz7\"\n<server><password>Xm98PwQz7Rt</password></server>\n";
        let pgpass = "db.internal:5432:app:user:Pg@98/Qz7xK\nother:5432:app:user:Ab\\:9/cd@Ef\n";
        let list = json!({"items": [{"data": {"values.yaml": e(manifest), "app.conf": e(conf), ".pgpass": e(pgpass)}}]});
        let masked = m.with_known(Arc::new(KnownValues::new(values_of(&m, &list).0).unwrap()));
        let ordinary = r#"{"path":"/usr/lib/app/password","get":"GET /password/status","creationTimestamp":"2026","serviceAccountName":"default","terminationGracePeriodSeconds":30,"topologyKey":"kubernetes.io/hostname","uid":"6f1c9a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b","lang":"en_US.UTF-8","arch":"x86_64-linux-gnu","cs":"ISO8859-1"}"#;
        assert_eq!(masked.mask_text(ordinary), ordinary);
        for (copy, clear) in [("pw Zk8+Qm3/Xp7w", "Qm3"), ("psk Ps98Qz7", "Ps98"), ("pg Pg@98/Qz7xK", "Qz7"), ("pg Ab:9/cd@Ef", "cd@Ef")] {
            let out = masked.mask_text(copy).into_owned();
            assert!(out.contains("[REDACTED:secret]") && !out.contains(clear), "{copy}: {out}");
        }
    }

    #[test]
    fn values_as_a_reader_sees_them_and_a_short_last_line() {
        // Red-team round 93: a value holding a tab was never found (masking reads text with
        // control characters skipped), nor a PEM body's short last line.
        let m = Masker::new(&hoop_core::mask::MaskConfig::default(), None).unwrap();
        let e = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
        let list = json!({"items": [{"data": {"password": e("Rtk93\tTabbedValue"), "tls.key": e("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCabcdefgh\nshortRtk93end==\n-----END PRIVATE KEY-----\n")}}]});
        let masked = m.with_known(Arc::new(KnownValues::new(values_of(&m, &list).0).unwrap()));
        // (As objects' strings and streams are read: the visible text.)
        let out = masked.mask_visible(b"x Rtk93\tTabbedValue y").into_owned();
        assert!(!String::from_utf8_lossy(&out).contains("TabbedValue"), "{}", String::from_utf8_lossy(&out));
        let out = masked.mask_text("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCabcdefgh\nshortRtk93end==\n").into_owned();
        assert!(!out.contains("shortRtk93end"), "{out}");
    }

    #[test]
    fn ordinary_words_and_addresses_in_secrets_mask_nothing() {
        // Red-team round 96: these masked ordinary text across the cluster.
        let m = Masker::new(&hoop_core::mask::MaskConfig::default(), None).unwrap();
        let e = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
        let list = json!({"items": [{"data": {"password": e("password"), "secret": e("kubernetes"), "api_key": e("localhost:5432"), "host": e("postgres.default.svc.cluster.local"),
            "app.env": e("AUTH_URL=https://accounts.google.com/o/oauth2/auth\nAPI_TOKEN_HEADER=Authorization\nDB_PASSWORD=Rtk96Pw77\n"), "nginx": e("server {\n  # production config server\n  listen 80;\n}\n")}}]});
        let masked = m.with_known(Arc::new(KnownValues::new(values_of(&m, &list).0).unwrap()));
        let text = "app.kubernetes.io/name: web; the password field; listen localhost:5432; postgres.default.svc.cluster.local; https://accounts.google.com/o/oauth2/auth Authorization; # production config server";
        assert_eq!(masked.mask_text(text), text);
        assert_eq!(masked.mask_text("pw Rtk96Pw77"), "pw [REDACTED:secret]");
    }
}
