//! The back side: connecting to the real server with the credentials only the gateway holds.

use crate::conn::{Conn, Tls};
use crate::frame::{Cursor, Frame, FrameError, FrameReader};
use crate::scram::{MECHANISM, ScramClient, md5_response};
use bytes::BytesMut;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why the upstream could not be reached or refused the gateway.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Network or TLS failure.
    #[error("cannot reach the database: {0}")]
    Io(#[from] std::io::Error),
    /// The TLS handshake failed, e.g. the server's certificate does not verify.
    #[error("TLS to the database failed: {0} (set the target's ca_file, or tls = \"disable\")")]
    Tls(String),
    /// The server refused to speak TLS though the target requires it.
    #[error("the database does not accept TLS")]
    NoTls,
    /// The server asked for the password in a form anyone on the path could use.
    #[error("the database asked for a {0} password over an unencrypted connection; refused (use TLS, SCRAM, or set allow_plaintext_password on the target)")]
    PlaintextPassword(&'static str),
    /// The server rejected the gateway's login or the startup.
    #[error("the database refused the connection: {0}")]
    Refused(String),
    /// The server asked for an authentication method hoop does not speak.
    #[error("unsupported authentication method {0}")]
    AuthMethod(i32),
    /// Protocol trouble.
    #[error("protocol error from the database: {0}")]
    Protocol(String),
}

impl From<FrameError> for UpstreamError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::Io(e) => UpstreamError::Io(e),
            other => UpstreamError::Protocol(other.to_string()),
        }
    }
}

/// Where and how to reach one Postgres target.
#[derive(Clone)]
pub struct Upstream {
    /// `host:port`.
    pub addr: String,
    /// Login user.
    pub user: String,
    /// Password, if the server asks for one.
    pub password: Option<String>,
    /// Database.
    pub database: String,
    /// TLS to the server, with the name to verify; None: never TLS.
    pub tls: Option<(Arc<rustls::ClientConfig>, rustls::pki_types::ServerName<'static>)>,
    /// Whether TLS is required (else used when the server offers it).
    pub tls_required: bool,
    /// Whether a cleartext or MD5 password may be sent without TLS.
    pub allow_plaintext_password: bool,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("addr", &self.addr)
            .field("user", &self.user)
            .field("database", &self.database)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// A logged-in upstream connection and what the server said during startup.
pub struct Established {
    /// The connection, positioned after the first ReadyForQuery.
    pub conn: Conn,
    /// Bytes read past the first ReadyForQuery (normally none).
    pub leftover: BytesMut,
    /// ParameterStatus and NoticeResponse frames, in order.
    pub startup_frames: Vec<Frame>,
    /// The backend's process id and secret key.
    pub key: (i32, i32),
}

impl Upstream {
    async fn open(&self) -> Result<Conn, UpstreamError> {
        let tcp = TcpStream::connect(&self.addr).await?;
        tcp.set_nodelay(true)?;
        let Some((cfg, name)) = &self.tls else { return Ok(Conn::Plain(tcp)) };
        let mut tcp = tcp;
        tcp.write_all(&[0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f]).await?;
        let mut answer = [0u8; 1];
        tcp.read_exact(&mut answer).await?;
        match answer[0] {
            b'S' => {}
            // Prefer: the server (or whoever answers for it) said no; SCRAM still proves both
            // sides, and plaintext password requests are refused on this connection.
            b'N' if !self.tls_required => return Ok(Conn::Plain(tcp)),
            _ => return Err(UpstreamError::NoTls),
        }
        // A certificate that does not verify ends the attempt: falling back to plain text
        // would let whoever presents it choose the weaker path.
        let tls = tokio_rustls::TlsConnector::from(cfg.clone())
            .connect(name.clone(), tcp)
            .await
            .map_err(|e| UpstreamError::Tls(e.to_string()))?;
        Ok(Conn::Tls(Tls::Client(Box::new(tls))))
    }

    /// Connects and logs in (with the pinned lexing settings, `PINNED`); `params` are the client's startup parameters to pass on.
    pub async fn connect(&self, params: &BTreeMap<String, String>) -> Result<Established, UpstreamError> {
        let mut conn = self.open().await?;
        let encrypted = matches!(conn, Conn::Tls(_));
        let mut body = Vec::with_capacity(128);
        body.extend_from_slice(&196608i32.to_be_bytes());
        let mut put = |k: &str, v: &str| {
            body.extend_from_slice(k.as_bytes());
            body.push(0);
            body.extend_from_slice(v.as_bytes());
            body.push(0);
        };
        put("user", &self.user);
        put("database", &self.database);
        for (k, v) in params {
            if !matches!(k.as_str(), "user" | "database" | "replication") && !k.starts_with("_pq_") && !is_pinned(k) {
                put(k, v);
            }
        }
        for (k, v) in PINNED {
            put(k, v);
        }
        body.push(0);
        let mut msg = ((body.len() + 4) as i32).to_be_bytes().to_vec();
        msg.extend_from_slice(&body);
        crate::conn::write_flushed(&mut conn, &msg).await?;

        let mut r = FrameReader::new(conn, 1 << 20);
        let mut scram: Option<ScramClient> = None;
        // Set once the server proved it knows the password (SCRAM's final signature).
        let mut server_proved = false;
        let mut startup_frames = Vec::new();
        let mut key = (0, 0);
        loop {
            let f = r.next().await?;
            match f.tag {
                b'R' => {
                    let mut c = Cursor::new(&f.body);
                    let code = c.i32().ok_or_else(|| UpstreamError::Protocol("short auth request".into()))?;
                    let plaintext_ok = encrypted || self.allow_plaintext_password;
                    let reply = match code {
                        // An impostor that skipped SCRAM's last step would be let in here.
                        0 if scram.is_some() && !server_proved => {
                            return Err(UpstreamError::Refused("the server ended SCRAM without proving it knows the password".into()));
                        }
                        0 => continue,
                        3 if !plaintext_ok => return Err(UpstreamError::PlaintextPassword("cleartext")),
                        5 if !plaintext_ok => return Err(UpstreamError::PlaintextPassword("MD5")),
                        3 => password_message(self.password()?.as_bytes(), true),
                        5 => {
                            let salt = c.take(4).ok_or_else(|| UpstreamError::Protocol("short md5 salt".into()))?;
                            password_message(md5_response(&self.user, self.password()?, salt).as_bytes(), true)
                        }
                        10 => {
                            let mut mechs = Vec::new();
                            while let Some(m) = c.cstr().filter(|m| !m.is_empty()) {
                                mechs.push(m);
                            }
                            if !mechs.iter().any(|m| m == MECHANISM) {
                                return Err(UpstreamError::AuthMethod(code));
                            }
                            let s = ScramClient::new(self.password()?);
                            let first = s.client_first();
                            scram = Some(s);
                            let mut b = MECHANISM.as_bytes().to_vec();
                            b.push(0);
                            b.extend_from_slice(&(first.len() as i32).to_be_bytes());
                            b.extend_from_slice(first.as_bytes());
                            password_message(&b, false)
                        }
                        11 => {
                            let s = scram.as_mut().ok_or_else(|| UpstreamError::Protocol("SASL continue without start".into()))?;
                            let fin = s
                                .client_final(&String::from_utf8_lossy(c.rest()))
                                .map_err(|e| UpstreamError::Refused(e.to_string()))?;
                            password_message(fin.as_bytes(), false)
                        }
                        12 => {
                            let s = scram.as_ref().ok_or_else(|| UpstreamError::Protocol("SASL final without start".into()))?;
                            s.verify_server(&String::from_utf8_lossy(c.rest()))
                                .map_err(|_| UpstreamError::Refused("the server's SCRAM signature is wrong".into()))?;
                            server_proved = true;
                            continue;
                        }
                        other => return Err(UpstreamError::AuthMethod(other)),
                    };
                    let mut out = BytesMut::new();
                    reply.write_to(&mut out);
                    crate::conn::write_flushed(r.get_mut(), &out).await?;
                }
                b'E' => {
                    let msg = crate::proto::decode_fields(&f.body)
                        .and_then(|fs| fs.into_iter().find(|(t, _)| *t == b'M').map(|(_, m)| m))
                        .unwrap_or_else(|| "error".into());
                    return Err(UpstreamError::Refused(msg));
                }
                b'K' => {
                    let mut c = Cursor::new(&f.body);
                    key = (c.i32().unwrap_or(0), c.i32().unwrap_or(0));
                }
                b'Z' => {
                    let (conn, leftover) = r.into_parts();
                    return Ok(Established { conn, leftover, startup_frames, key });
                }
                b'S' | b'N' | b'v' => startup_frames.push(f),
                other => return Err(UpstreamError::Protocol(format!("unexpected message {:?} during startup", other as char))),
            }
        }
    }

    fn password(&self) -> Result<&str, UpstreamError> {
        self.password.as_deref().ok_or_else(|| UpstreamError::Refused("the database wants a password; none is configured".into()))
    }

    /// Sends a cancel request for the backend `(pid, key)`.
    pub async fn cancel(&self, pid: i32, key: i32) -> Result<(), UpstreamError> {
        let mut conn = self.open().await?;
        let mut msg = vec![0, 0, 0, 16, 4, 0xd2, 0x16, 0x2e];
        msg.extend_from_slice(&pid.to_be_bytes());
        msg.extend_from_slice(&key.to_be_bytes());
        conn.write_all(&msg).await?;
        let _ = conn.shutdown().await;
        // The postmaster signals the backend, then closes: once it has, the cancel has landed
        // (a backend that is idle by then ignores it).
        let mut sink = [0u8; 64];
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
            while matches!(conn.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
        Ok(())
    }
}

fn password_message(data: &[u8], nul: bool) -> Frame {
    let mut b = data.to_vec();
    if nul {
        b.push(0);
    }
    Frame { tag: b'p', body: b.into() }
}

/// Most bytes of rows one side query (catalog lookup, discovery sample) may return.
const MAX_SIDE_ANSWER: usize = 32 << 20;

/// Runs one simple query on an established connection and returns its rows as text.
pub async fn simple_query(conn: &mut Conn, leftover: &mut BytesMut, sql: &str) -> Result<Vec<Vec<Option<String>>>, UpstreamError> {
    let mut out = BytesMut::new();
    crate::proto::query(sql).write_to(&mut out);
    crate::conn::write_flushed(conn, &out).await?;
    let mut r = FrameReader::with_buffer(&mut *conn, 1 << 24, std::mem::take(leftover));
    let mut rows = Vec::new();
    let mut error = None;
    let mut held = 0usize;
    loop {
        let f = r.next().await?;
        match f.tag {
            b'D' => {
                // Side queries are small; a sample of huge values must not fill memory (the
                // connection, left mid-answer, is dropped by the caller).
                held += f.body.len();
                if held > MAX_SIDE_ANSWER {
                    return Err(UpstreamError::Protocol(format!("an answer of more than {} MiB to a side query", MAX_SIDE_ANSWER >> 20)));
                }
                let cells = crate::proto::decode_data_row(&f.body).ok_or_else(|| UpstreamError::Protocol("bad DataRow".into()))?;
                rows.push(cells.into_iter().map(|c| c.map(|v| String::from_utf8_lossy(v).into_owned())).collect());
            }
            b'E' => error = Some(String::from_utf8_lossy(&f.body).into_owned()),
            b'Z' => break,
            _ => {}
        }
    }
    let (_, rest) = r.into_parts();
    *leftover = rest;
    match error {
        Some(e) => Err(UpstreamError::Refused(e)),
        None => Ok(rows),
    }
}

/// The lexing settings every upstream session starts with, and keeps: hoop reads statement text
/// exactly as the server does only under these values.
pub const PINNED: [(&str, &str); 3] = [("client_encoding", "UTF8"), ("standard_conforming_strings", "on"), ("backslash_quote", "safe_encoding")];

fn is_pinned(name: &str) -> bool {
    PINNED.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

/// Startup parameters a client may set (any case), besides `user`, `database` and `options`
/// of these; the rest are dropped: an allow-list, because settings change what statements mean.
pub const ALLOWED_STARTUP: &[&str] = &[
    "application_name",
    "client_encoding",
    "datestyle",
    "timezone",
    "intervalstyle",
    "extra_float_digits",
    "search_path",
    "statement_timeout",
    "lock_timeout",
    "idle_in_transaction_session_timeout",
    "default_transaction_isolation",
    "default_transaction_read_only",
    "bytea_output",
    "geqo",
    "jit",
    "work_mem",
    // The planner's costs and choices: how a statement runs, not what it means or reads
    // (compatibility round 3: `PGOPTIONS="-c random_page_cost=1.1"` refused the connection
    // while `SET random_page_cost` went through).
    "idle_session_timeout",
    "maintenance_work_mem",
    "random_page_cost",
    "seq_page_cost",
    "cpu_tuple_cost",
    "cpu_index_tuple_cost",
    "cpu_operator_cost",
    "effective_cache_size",
    "effective_io_concurrency",
    "parallel_setup_cost",
    "parallel_tuple_cost",
    "max_parallel_workers_per_gather",
    "from_collapse_limit",
    "join_collapse_limit",
    "geqo_threshold",
    "default_statistics_target",
    "plan_cache_mode",
    "enable_seqscan",
    "enable_indexscan",
    "enable_indexonlyscan",
    "enable_bitmapscan",
    "enable_tidscan",
    "enable_sort",
    "enable_incremental_sort",
    "enable_hashagg",
    "enable_material",
    "enable_memoize",
    "enable_nestloop",
    "enable_mergejoin",
    "enable_hashjoin",
    "enable_gathermerge",
    "enable_parallel_append",
    "enable_parallel_hash",
    "enable_partition_pruning",
    "enable_partitionwise_join",
    "enable_partitionwise_aggregate",
];

/// The startup parameters to pass on for a client's `params`: allow-listed ones, with the
/// `-c name=value` settings of `options` checked against the same list. `Err` names the first
/// setting that is not allowed (the session is refused: dropping it silently would let a client
/// believe it runs with it).
pub fn startup_params(params: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, String> {
    let allowed = |k: &str| ALLOWED_STARTUP.iter().any(|a| a.eq_ignore_ascii_case(k));
    let mut out = BTreeMap::new();
    // A schema before `pg_catalog` shadows the built-in types' names (see
    // `hoop_core::action::sql::SHADOWING_NAME`).
    let shadows = |name: &str, value: &str| name.eq_ignore_ascii_case("search_path") && hoop_core::action::sql::search_path_shadows_catalog(value);
    for (k, v) in params {
        if shadows(k, v) {
            return Err(format!("{k} puts a schema before pg_catalog"));
        }
        if matches!(k.as_str(), "user" | "database") || (allowed(k) && !is_pinned(k)) {
            out.insert(k.clone(), v.clone());
        }
    }
    if let Some(options) = params.get("options") {
        let mut kept = Vec::new();
        // Split as the server splits it (`pg_split_opts`: C's `isspace`, which counts the
        // vertical tab; Rust's ASCII whitespace does not, and red-team round 112 set
        // `transform_null_equals` past the allow-list with `-c enable_seqscan=off\v-c\vX=Y`).
        let mut words = options.split(|c: char| c == ' ' || ('\t'..='\r').contains(&c)).filter(|w| !w.is_empty());
        while let Some(w) = words.next() {
            // `-c name=value`, `-cname=value` or `--name=value`; backslash escapes are refused
            // rather than interpreted.
            let setting = if w == "-c" {
                words.next().ok_or("-c without a setting")?
            } else if let Some(rest) = w.strip_prefix("-c").or_else(|| w.strip_prefix("--")) {
                rest
            } else {
                return Err(format!("startup option {w:?}"));
            };
            let (name, value) = setting.split_once('=').ok_or_else(|| format!("startup option {setting:?}"))?;
            let name = name.replace('-', "_");
            if setting.contains('\\') || setting.chars().any(char::is_control) || !allowed(&name) || is_pinned(&name) || shadows(&name, value) {
                return Err(format!("setting {name}"));
            }
            kept.push(format!("-c {setting}"));
        }
        if !kept.is_empty() {
            out.insert("options".into(), kept.join(" "));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod startup_tests {
    use super::*;

    fn p(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn startup_parameters_are_allow_listed() {
        let out = startup_params(&p(&[("user", "a"), ("database", "d"), ("application_name", "psql"), ("client_encoding", "SJIS"), ("role", "postgres")])).unwrap();
        assert_eq!(out, p(&[("user", "a"), ("database", "d"), ("application_name", "psql")]));
        let out = startup_params(&p(&[("options", "-c statement_timeout=5s --search-path=public")])).unwrap();
        assert_eq!(out.get("options").map(String::as_str), Some("-c statement_timeout=5s -c search-path=public"));
        assert!(startup_params(&p(&[("options", "-c enable_seqscan=off\u{b}-c\u{b}transform_null_equals=on")])).is_err(), "a vertical tab separates words, as the server reads it");
        assert!(startup_params(&p(&[("options", "-c enable_seqscan=off\u{c}-c\u{c}array_nulls=off")])).is_err());
        assert!(startup_params(&p(&[("options", "-c application_name=a\u{1}b")])).is_err(), "no control characters in a value");
        let out = startup_params(&p(&[("options", "-c random_page_cost=1.1 -c enable_seqscan=off -c plan_cache_mode=force_generic_plan")])).unwrap();
        assert_eq!(out.get("options").map(String::as_str), Some("-c random_page_cost=1.1 -c enable_seqscan=off -c plan_cache_mode=force_generic_plan"));
        assert!(startup_params(&p(&[("search_path", "public, pg_catalog")])).is_err());
        for bad in ["-c search_path=public,pg_catalog", "--search-path=x,pg_catalog", "-c row_security=off", "-c session_replication_role=replica", "-c standard_conforming_strings=off", "-cclient_encoding=SJIS", "--backslash-quote=on", "-c role=postgres", "-c session_authorization=x", "-c a\\ b=c", "-X", "-c"] {
            assert!(startup_params(&p(&[("options", bad)])).is_err(), "{bad}");
        }
    }
}
