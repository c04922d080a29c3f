//! The proxy: accepting connections, logging callers in, connecting upstream, running sessions.

use crate::cancel::CancelRegistry;
use crate::catalog::Catalog;
use crate::conn::Conn;
use crate::frame::{Cursor, Frame, FrameError, FrameReader};
use crate::front::{self, Opening};
use crate::proto;
use crate::relay::{RecordLimits, Relay, RelayError};
use crate::scram::{MECHANISM, ScramServer, ScramVerifier};
use crate::upstream::Upstream;
use bytes::BytesMut;
use hoop_core::admission::PreauthEnd;
use hoop_core::auth::{AuthError, Credential};
use hoop_core::config::Config;
use hoop_core::gate::{Gate, GateError};
use hoop_core::identity::{Identity, IdentityKind};
use hoop_core::session::Protocol;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// Why the proxy could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// A configuration value is unusable.
    #[error(transparent)]
    Config(#[from] hoop_core::config::ConfigError),
    /// TLS setup failed.
    #[error(transparent)]
    Tls(#[from] hoop_core::tls::TlsError),
    /// A target is misconfigured.
    #[error("target {0}: {1}")]
    Target(String, String),
}

struct Target {
    upstream: Upstream,
    catalog: Arc<Catalog>,
    discovery: Arc<crate::discover::Discovery>,
    allow_privileged_role: bool,
    /// Upstream sessions agents hold on this target now.
    agents_upstream: Arc<std::sync::atomic::AtomicUsize>,
    /// Their cap when the config leaves it to the server (half its `max_connections`).
    agents_cap: tokio::sync::OnceCell<usize>,
}

/// An agent's upstream session counted against its target's share; given back on drop.
struct AgentSlot(Arc<std::sync::atomic::AtomicUsize>);

impl AgentSlot {
    fn take(count: &Arc<std::sync::atomic::AtomicUsize>, cap: usize) -> Option<AgentSlot> {
        use std::sync::atomic::Ordering;
        if count.fetch_add(1, Ordering::AcqRel) >= cap {
            count.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(AgentSlot(count.clone()))
    }
}

impl Drop for AgentSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Agents' share of a server's connections when it cannot be asked.
const AGENTS_CAP_FALLBACK: usize = 48;

/// How long the answers owed to a client that went away are read, to record them.
const DRAIN_AFTER_CLIENT: Duration = Duration::from_secs(10);

/// The Postgres proxy: cheap to share, one per listener (or several listeners per proxy).
pub struct PgProxy {
    gate: Gate,
    targets: HashMap<String, Target>,
    tls: Option<Arc<rustls::ServerConfig>>,
    /// `[[static_identities]]`, replaced on reload.
    statics: std::sync::RwLock<Arc<Statics>>,
    /// Where tokens may arrive without TLS (`tls.plaintext_from`).
    plaintext: hoop_core::config::TlsConfig,
    max_message: usize,
    /// `limits.max_server_message_bytes`.
    max_server_message: usize,
    /// `limits.max_rows_written` (0: none).
    max_rows_written: u64,
    /// `limits.agent_idle_in_transaction_secs` (0: none).
    agent_idle_in_transaction: u64,
    /// `limits.agent_statement_secs` (0: none).
    agent_statement: u64,
    /// `limits.agent_transaction_secs` (0: none).
    agent_transaction: u64,
    /// `limits.agent_upstream_sessions` (0: half the server's `max_connections`).
    agent_upstream_sessions: usize,
    record: RecordLimits,
    cancel: CancelRegistry,
    /// Connection threads (`listeners.threads`).
    threads: usize,
}


/// Static identities by subject: the identity, its SCRAM verifier, and the secret's digest
/// (a reload that changes the secret ends the sessions logged in with the old one).
type Statics = HashMap<String, (Identity, ScramVerifier, Vec<u8>)>;

/// The `[[static_identities]]` of `cfg`.
fn statics_of(cfg: &Config) -> Result<Statics, PgError> {
    let mut statics = HashMap::new();
    for (i, s) in cfg.static_identities.iter().enumerate() {
        let secret = s.secret.resolve(&format!("static_identities[{i}].secret"))?;
        let identity = Identity {
            subject: s.subject.clone(),
            groups: s.groups.clone(),
            issuer: "hoop-static".into(),
            kind: IdentityKind::Agent,
            targets: s.targets.clone(),
            token_id: String::new(),
            expires_at: 0,
            credentials: vec![format!("static:{}", s.subject)],
            issue_subjects: Vec::new(),
        };
        let digest = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes()).as_ref().to_vec();
        statics.insert(s.subject.clone(), (identity, ScramVerifier::new(&secret), digest));
    }
    Ok(statics)
}

impl PgProxy {
    /// A proxy for the `postgres` targets of `cfg`, deciding through `gate`.
    pub fn from_config(cfg: &Config, gate: Gate) -> Result<Self, PgError> {
        let mut targets = HashMap::new();
        for (name, t) in &cfg.targets {
            if t.protocol != Protocol::Postgres {
                continue;
            }
            let password = match &t.password {
                Some(p) => Some(p.resolve(&format!("targets.{name}.password"))?),
                None => None,
            };
            let tls = if t.tls != hoop_core::config::TlsMode::Disable {
                let host = t.address.rsplit_once(':').map_or(t.address.as_str(), |(h, _)| h).trim_matches(['[', ']']);
                let name_ = rustls::pki_types::ServerName::try_from(host.to_string())
                    .map_err(|e| PgError::Target(name.clone(), e.to_string()))?;
                Some((hoop_core::tls::client_config(t.ca_file.as_deref())?, name_))
            } else {
                None
            };
            let user = t.user.clone().unwrap_or_else(|| "postgres".into());
            let upstream = Upstream {
                addr: t.address.clone(),
                database: t.database.clone().unwrap_or_else(|| user.clone()),
                user,
                password,
                tls,
                tls_required: t.tls == hoop_core::config::TlsMode::Require,
                allow_plaintext_password: t.allow_plaintext_password,
            };
            let catalog = Arc::new(Catalog::new(upstream.clone()));
            targets.insert(
                name.clone(),
                Target { upstream, catalog, discovery: Default::default(), allow_privileged_role: t.allow_privileged_role, agents_upstream: Default::default(), agents_cap: Default::default() },
            );
        }
        let statics = std::sync::RwLock::new(Arc::new(statics_of(cfg)?));
        let tls = Some(hoop_core::tls::server_config(&cfg.tls, &cfg.data_dir, &[b"postgresql"])?);
        hoop_core::action::lineage::bound_parameters(cfg.limits.max_message_bytes as u64);
        hoop_core::action::lineage::bound_server_messages(cfg.limits.max_server_message_bytes.max(1 << 16) as u64);
        Ok(PgProxy {
            gate,
            targets,
            tls,
            statics,
            plaintext: cfg.tls.clone(),
            max_message: cfg.limits.max_message_bytes.max(1024),
            max_server_message: cfg.limits.max_server_message_bytes.max(1 << 16),
            max_rows_written: cfg.limits.max_rows_written,
            agent_idle_in_transaction: cfg.limits.agent_idle_in_transaction_secs,
            agent_statement: cfg.limits.agent_statement_secs,
            agent_transaction: cfg.limits.agent_transaction_secs,
            agent_upstream_sessions: cfg.limits.agent_upstream_sessions,
            record: RecordLimits { max_rows: cfg.recording.max_rows_per_statement, max_bytes: 1 << 20 },
            cancel: CancelRegistry::default(),
            threads: cfg.listeners.threads,
        })
    }

    /// Accepts connections until the listener fails; each runs in its own task, on one of the
    /// connection threads (`listeners.threads`).
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        let threads = self.threads;
        hoop_core::serve::on_threads(listener, threads, move |tcp, peer| {
            let me = self.clone();
            async move { me.handle(tcp, peer).await }
        })
        .await
    }

    /// Runs one client connection to its end.
    pub async fn handle(&self, mut tcp: TcpStream, peer: SocketAddr) {
        let _ = tcp.set_nodelay(true);
        let admitted = match self.gate.admission().admit(hoop_core::admission::Listener::Postgres) {
            Ok(a) => a,
            Err(why) => return refuse_full(&mut tcp, &why.to_string()).await,
        };
        // One deadline for everything before the caller is known: TLS, startup and login.
        let deadline = tokio::time::Instant::now() + self.gate.admission().limits().preauth_timeout;
        let opening = match admitted.before_auth(deadline, front::open(tcp, self.tls.as_ref())).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "connection opening failed");
                return;
            }
            Err(_) => return,
        };
        match opening {
            Opening::Cancel(pid, key, mut conn) => {
                self.gate.count_sessionless(hoop_core::metrics::Sessionless::Cancel);
                self.cancel.cancel(pid, key).await;
                // Over TLS, end with close_notify as PostgreSQL does: libpq 18's PQcancelConn
                // reports "SSL error: unexpected eof" on a bare close.
                use tokio::io::AsyncWriteExt;
                let _ = tokio::time::timeout(std::time::Duration::from_secs(1), conn.shutdown()).await;
            }
            Opening::Startup { conn, minor, params } => {
                if let Err(e) = self.session(conn, minor, params, peer, deadline, &admitted).await {
                    tracing::debug!(%peer, error = %e, "session ended with an error");
                }
            }
        }
    }

    async fn session(
        &self,
        conn: Conn,
        minor: u16,
        params: BTreeMap<String, String>,
        peer: SocketAddr,
        deadline: tokio::time::Instant,
        admitted: &hoop_core::admission::Admitted,
    ) -> Result<(), RelayError> {
        let mut reader = FrameReader::new(conn, 64 * 1024);
        if params.get("replication").is_some_and(|v| !matches!(v.as_str(), "false" | "off" | "no" | "0")) {
            return fatal(&mut reader, proto::NOT_AUTHORIZED, "hoop: replication connections are not allowed through the gateway").await;
        }
        let unsupported: Vec<String> = params.keys().filter(|k| k.starts_with("_pq_.")).cloned().collect();
        if minor > 0 || !unsupported.is_empty() {
            send(&mut reader, &[proto::negotiate_protocol_version(&unsupported)]).await?;
        }
        let params = match crate::upstream::startup_params(&params) {
            Ok(p) => p,
            Err(what) => {
                let msg = format!("hoop: {what} is not allowed at startup: the gateway pins the settings that change how statements are read");
                return fatal(&mut reader, proto::NOT_AUTHORIZED, &msg).await;
            }
        };
        let user = params.get("user").cloned().unwrap_or_default();
        let target = params.get("database").cloned().filter(|d| !d.is_empty()).unwrap_or_else(|| user.clone());

        // The caller's login: SCRAM for static-secret agents, else a token as cleartext password.
        let login = admitted.before_auth(deadline, self.login(&mut reader, &user, peer)).await;
        let credential = match login {
            Ok(Ok(c)) => c,
            Ok(Err(LoginError::Refused(code, msg))) => return fatal(&mut reader, code, &msg).await,
            Ok(Err(LoginError::Relay(e))) => return Err(e),
            Err(PreauthEnd::TimedOut) => return fatal(&mut reader, proto::NOT_AUTHORIZED, "hoop: login timed out (limits.preauth_timeout_secs)").await,
            Err(PreauthEnd::Evicted) => {
                return fatal(&mut reader, "53300", "hoop: the gateway's connections are full; this one had not logged in and made room for another").await;
            }
        };
        // Logged in: the connection keeps its slot (sessions are bounded per identity).
        admitted.authenticated();
        let Some(t) = self.targets.get(&target) else {
            return fatal(&mut reader, "3D000", &format!("hoop: no Postgres target named \"{target}\"")).await;
        };
        let cred = match &credential {
            LoginCredential::Token(tok) => Credential::Token(tok),
            LoginCredential::Identity(id, _) => Credential::Verified(id),
        };
        // A connection a rule holds for review (a spent budget) waits here; a client that goes
        // away meanwhile takes its ticket with it, as a held statement's does (red-team round 81:
        // killed clients left connect tickets open until the review timed out, and a reviewer
        // could grant an hour's waiver to nobody). Dropping the open cancels the ticket.
        let opened = tokio::select! {
            r = self.gate.open_session(cred, Protocol::Postgres, &target, Some(peer), params.clone()) => r,
            e = reader.closed(64 * 1024) => return Err(e.into()),
        };
        let handle = match opened {
            Ok(h) => h,
            Err(e) => {
                let code = match &e {
                    GateError::Auth(AuthError::TargetNotAllowed { .. }) | GateError::Denied { .. } => proto::NOT_AUTHORIZED,
                    GateError::Auth(_) => proto::BAD_PASSWORD,
                    GateError::UnknownTarget(_) => "3D000",
                    GateError::Limit(_) | GateError::Streams(_) => "53300",
                    GateError::Record(_) => proto::SYSTEM_ERROR,
                    GateError::Ended(_) => proto::NOT_AUTHORIZED,
                };
                return fatal(&mut reader, code, &format!("hoop: {e}")).await;
            }
        };
        // A static identity changed or taken out by a reload while it logged in (its session
        // not yet live, so the reload could not end it) logs in no further (red-team identity
        // round 110: a SCRAM exchange paused across the reload finished on the old secret).
        if let LoginCredential::Identity(id, digest) = &credential
            && !self.statics.read().unwrap_or_else(|p| p.into_inner()).get(&id.subject).is_some_and(|(i, _, d)| i == id && d == digest)
        {
            let msg = "hoop: this identity was changed or removed while it logged in";
            handle.close(msg);
            return fatal(&mut reader, proto::BAD_PASSWORD, msg).await;
        }
        // Least privilege upstream: an agent never gets a role that reads the server's files.
        if handle.session().identity.kind == hoop_core::identity::IdentityKind::Agent && !t.allow_privileged_role {
            let refusal = match t.catalog.role_privileges().await {
                Ok(None) => None,
                Ok(Some(why)) => Some(format!(
                    "hoop: the gateway's role on target \"{target}\" is privileged ({why}); agents are refused unless the target sets allow_privileged_role = true"
                )),
                Err(e) => Some(format!("hoop: checking the privileges of the gateway's role failed: {e}")),
            };
            if let Some(msg) = refusal {
                handle.close(&msg);
                return fatal(&mut reader, proto::NOT_AUTHORIZED, &msg).await;
            }
        }
        let est = match t.upstream.connect(&params).await {
            Ok(est) => est,
            Err(e) => {
                handle.close(&format!("upstream: {e}"));
                return fatal(&mut reader, proto::CANNOT_CONNECT, &format!("hoop: {e}")).await;
            }
        };
        // Agents together hold at most their share of the server's connections (red-team round
        // 25: seven agent identities, each within its own session cap, took every connection
        // slot of the server, and people and other agents were refused by it). Counted once
        // the session's own connection is up: the server is asked its size on a side connection.
        let _agent_slot = if handle.session().identity.kind == hoop_core::identity::IdentityKind::Agent {
            let cap = match self.agent_upstream_sessions {
                0 => *t.agents_cap.get_or_init(|| async {
                    let rows = t.catalog.query("SHOW max_connections").await.ok();
                    let max = rows.and_then(|r| r.first()?.first()?.as_ref()?.parse::<usize>().ok());
                    max.map_or(AGENTS_CAP_FALLBACK, |m| (m / 2).max(1))
                }).await,
                n => n,
            };
            match AgentSlot::take(&t.agents_upstream, cap) {
                Some(s) => Some(s),
                None => {
                    let msg = format!("hoop: agents already hold their share ({cap}) of the database's connections on target \"{target}\" (limits.agent_upstream_sessions)");
                    handle.close(&msg);
                    drop(est);
                    return fatal(&mut reader, "53300", &msg).await;
                }
            }
        } else {
            None
        };
        let (pid, real_key) = est.key;
        let (hoop_key, cancels) = self.cancel.register(pid, real_key, t.upstream.clone());
        let mut hello = vec![proto::auth(0, &[])];
        hello.extend(est.startup_frames.iter().cloned());
        hello.push(proto::backend_key_data(pid, hoop_key));
        hello.push(proto::raw(b'Z', b"I"));
        let result = match send(&mut reader, &hello).await {
            Ok(()) => self.relay(reader, est, handle, &target, t, cancels).await,
            Err(e) => Err(e),
        };
        self.cancel.remove(pid, hoop_key);
        result
    }

    async fn relay(
        &self,
        reader: FrameReader<Conn>,
        est: crate::upstream::Established,
        handle: hoop_core::gate::SessionHandle,
        target: &str,
        t: &Target,
        cancels: crate::cancel::ClientCancels,
    ) -> Result<(), RelayError> {
        let handle = Arc::new(handle);
        let agent = handle.session().identity.kind == hoop_core::identity::IdentityKind::Agent;
        let max_rows_written = (agent && self.max_rows_written > 0).then_some(self.max_rows_written);
        let (client_conn, client_buf) = reader.into_parts();
        let (cr, cw) = client_conn.into_split();
        let backend = est.key;
        let (sr, sw) = est.conn.into_split();
        let relay = Relay::new(handle.clone(), target.to_string(), t.catalog.clone(), t.discovery.clone(), cw, self.record, max_rows_written)
            .with_cancel(t.upstream.clone(), backend, cancels)
            .with_idle_in_transaction((agent && self.agent_idle_in_transaction > 0).then(|| std::time::Duration::from_secs(self.agent_idle_in_transaction)));
        let relay = if agent { relay.for_agent() } else { relay };
        let client = FrameReader::with_buffer(cr, self.max_message, client_buf).with_share(handle.buffer_share());
        let server = FrameReader::with_buffer(sr, self.max_server_message, est.leftover).with_share(handle.buffer_share());
        // On the heap: the two loops' states are large, and debug builds copy futures through
        // the stack as they are built.
        let mut server_loop = Box::pin(relay.server_loop(server));
        let client_loop = Box::pin(relay.client_loop(client, sw));
        let (reason, result) = tokio::select! {
            r = client_loop => {
                // A statement still running for a client that is gone (or cut off) stops too:
                // the server would otherwise run it to its end, holding its transaction's locks,
                // since it notices a closed connection only when it next talks to it.
                if relay.busy() {
                    let _ = tokio::time::timeout(Duration::from_secs(2), t.upstream.cancel(backend.0, backend.1)).await;
                    // What was forwarded ran, or was cancelled: its answers are read and
                    // recorded before the session ends (red-team round 55: a Query then an
                    // immediate close committed an insert the recording had no result for).
                    let _ = tokio::time::timeout(DRAIN_AFTER_CLIENT, async {
                        tokio::select! {
                            _ = &mut server_loop => {}
                            _ = relay.drain_after_client() => {}
                        }
                    })
                    .await;
                }
                match r {
                    Ok(()) => ("client terminated".to_string(), Ok(())),
                    Err(RelayError::Frame(FrameError::Closed)) => ("client disconnected".to_string(), Ok(())),
                    Err(RelayError::Frame(FrameError::Busy(e))) => {
                        // Not the client's fault, and not a protocol violation: out of memory, as
                        // PostgreSQL itself would say.
                        let _ = relay.to_client(&[proto::error("FATAL", proto::OUT_OF_MEMORY, &format!("hoop: {e}"))]).await;
                        (format!("client message refused: {e}"), Ok(()))
                    }
                    Err(e) => {
                        let _ = relay.to_client(&[proto::error("FATAL", proto::PROTOCOL_VIOLATION, &format!("hoop: {e}"))]).await;
                        (format!("client protocol error: {e}"), Err(e))
                    }
                }
            },
            r = &mut server_loop => {
                let msg = match &r {
                    Err(RelayError::Frame(FrameError::Closed)) | Ok(()) => "server closed the connection".to_string(),
                    // (Not its size: a row's size before masking spells its masked values, PG
                    // red-team round 121.)
                    Err(RelayError::Frame(FrameError::TooLarge { limit, .. })) => {
                        format!("the server sent a message over limits.max_server_message_bytes ({limit}); the session ends rather than hold it")
                    }
                    Err(e) => format!("server error: {e}"),
                };
                let _ = relay.to_client(&[proto::error("FATAL", proto::ADMIN_SHUTDOWN, &format!("hoop: {msg}"))]).await;
                (msg, Ok(()))
            },
            msg = async {
                let ceiling = |secs: u64| (agent && secs > 0).then(|| Duration::from_secs(secs));
                tokio::select! {
                    m = relay.statement_ceiling(ceiling(self.agent_statement)) => m,
                    m = relay.transaction_ceiling(ceiling(self.agent_transaction)) => m,
                }
            } => {
                let _ = tokio::time::timeout(Duration::from_secs(2), t.upstream.cancel(backend.0, backend.1)).await;
                let _ = relay.to_client(&[proto::error("FATAL", proto::ADMIN_SHUTDOWN, &format!("hoop: {msg}"))]).await;
                (msg, Ok(()))
            },
            end = handle.ended() => {
                // What the server is running for this session stops too: a statement sent just
                // before a revocation must not commit after it.
                let _ = tokio::time::timeout(Duration::from_secs(2), t.upstream.cancel(backend.0, backend.1)).await;
                let msg = format!("terminating connection: {}", end.as_str());
                let _ = relay.to_client(&[proto::error("FATAL", proto::ADMIN_SHUTDOWN, &format!("hoop: {msg}"))]).await;
                (msg, Ok(()))
            },
        };
        relay.record_session_end();
        handle.close(&reason);
        result
    }

    /// Takes in the `[[static_identities]]` of `cfg` (SIGHUP) and ends the live sessions of
    /// those taken out or changed (their secret, groups or targets): a session keeps the
    /// authority it logged in with, and an identity the operator removed must have none
    /// (red-team identity round 109: one removed and reloaded went on logging in). Returns
    /// how many sessions ended.
    pub fn reload_identities(&self, cfg: &Config) -> Result<usize, PgError> {
        let new = Arc::new(statics_of(cfg)?);
        let old = std::mem::replace(&mut *self.statics.write().unwrap_or_else(|p| p.into_inner()), new.clone());
        let gone: Vec<String> = old
            .iter()
            .filter(|(subject, (identity, _, digest))| new.get(*subject).is_none_or(|(i, _, d)| i != identity || d != digest))
            .flat_map(|(_, (identity, _, _))| identity.credentials.iter().cloned())
            .collect();
        Ok(if gone.is_empty() { 0 } else { self.gate.end_sessions_on(&gone) })
    }

    async fn login(&self, reader: &mut FrameReader<Conn>, user: &str, peer: SocketAddr) -> Result<LoginCredential, LoginError> {
        let statics = self.statics.read().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some((identity, verifier, digest)) = statics.get(user) {
            send(reader, &[proto::auth(10, format!("{MECHANISM}\0\0").as_bytes())]).await?;
            let f = next_password(reader).await?;
            let mut c = Cursor::new(&f.body);
            let mech = c.cstr().ok_or_else(|| LoginError::bad("malformed SASLInitialResponse"))?;
            let len = c.i32().ok_or_else(|| LoginError::bad("malformed SASLInitialResponse"))?;
            let data = c.take(len.max(0) as usize).ok_or_else(|| LoginError::bad("malformed SASLInitialResponse"))?;
            if mech != MECHANISM {
                return Err(LoginError::Refused(proto::BAD_PASSWORD, format!("hoop: unsupported SASL mechanism {mech}")));
            }
            let (server, first) = ScramServer::start(verifier.clone(), &String::from_utf8_lossy(data))
                .map_err(|e| LoginError::Refused(proto::BAD_PASSWORD, format!("hoop: {e}")))?;
            send(reader, &[proto::auth(11, first.as_bytes())]).await?;
            let f = next_password(reader).await?;
            let fin = server
                .finish(&String::from_utf8_lossy(&f.body))
                .map_err(|_| LoginError::Refused(proto::BAD_PASSWORD, format!("hoop: password authentication failed for user \"{user}\"")))?;
            send(reader, &[proto::auth(12, fin.as_bytes())]).await?;
            return Ok(LoginCredential::Identity(identity.clone(), digest.clone()));
        }
        let encrypted = matches!(reader.get_mut(), Conn::Tls(_));
        if !encrypted && !self.plaintext.plaintext_allowed(peer.ip()) {
            return Err(LoginError::Refused(
                proto::NOT_AUTHORIZED,
                "hoop: tokens are only accepted over TLS from this address (use sslmode=require; see tls.plaintext_from)".into(),
            ));
        }
        send(reader, &[proto::auth(3, &[])]).await?;
        let f = next_password(reader).await?;
        let token = Cursor::new(&f.body).cstr().ok_or_else(|| LoginError::bad("malformed password message"))?;
        Ok(LoginCredential::Token(token))
    }
}

enum LoginCredential {
    Token(String),
    /// A static identity, with its secret's digest as it logged in.
    Identity(Identity, Vec<u8>),
}

enum LoginError {
    Refused(&'static str, String),
    Relay(RelayError),
}

impl LoginError {
    fn bad(msg: &str) -> Self {
        LoginError::Refused(proto::PROTOCOL_VIOLATION, format!("hoop: {msg}"))
    }
}

impl From<RelayError> for LoginError {
    fn from(e: RelayError) -> Self {
        LoginError::Relay(e)
    }
}

async fn next_password(reader: &mut FrameReader<Conn>) -> Result<Frame, LoginError> {
    let f = reader.next().await.map_err(RelayError::from)?;
    if f.tag != b'p' {
        return Err(LoginError::bad("expected a password message"));
    }
    Ok(f)
}

async fn send(reader: &mut FrameReader<Conn>, frames: &[Frame]) -> Result<(), RelayError> {
    let mut out = BytesMut::new();
    for f in frames {
        f.write_to(&mut out);
    }
    crate::conn::write_flushed(reader.get_mut(), &out).await?;
    Ok(())
}

async fn fatal(reader: &mut FrameReader<Conn>, code: &str, message: &str) -> Result<(), RelayError> {
    let _ = send(reader, &[proto::error("FATAL", code, message)]).await;
    let _ = reader.get_mut().shutdown().await;
    Ok(())
}

/// Answers a connection over a cap with `too_many_connections` after its startup packet, as a
/// full PostgreSQL does, so libpq shows the reason; an encryption request is declined first
/// (a full gateway does no TLS handshakes). A second and a few KiB at most are spent on it.
async fn refuse_full(tcp: &mut TcpStream, why: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut head = [0u8; 8];
        tcp.read_exact(&mut head).await?;
        let code = i32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        if matches!(code, 80877103 | 80877104) {
            tcp.write_all(b"N").await?;
            tcp.read_exact(&mut head).await?;
        }
        let len = i32::from_be_bytes([head[0], head[1], head[2], head[3]]).clamp(8, 10_000) as u64;
        let mut rest = Vec::new();
        let _ = tokio::io::AsyncReadExt::take(&mut *tcp, len - 8).read_to_end(&mut rest).await;
        let mut out = bytes::BytesMut::new();
        proto::error("FATAL", "53300", &format!("hoop: {why}")).write_to(&mut out);
        tcp.write_all(&out).await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), exchange).await;
}
