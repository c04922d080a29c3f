//! From identity to a working `kubectl` in one step: a kubeconfig whose user runs an exec
//! credential plugin (`hoop token exchange`, trading the agent's own client credential for a
//! fresh short-lived token over the admin API), so it keeps working after any one token
//! expires, and nothing on the agent's machine can mint identities. Or, for a one-off, a
//! kubeconfig holding one short-lived token.

use base64::Engine;

/// What a generated kubeconfig points at.
#[derive(Debug, Clone)]
pub struct KubeconfigSpec {
    /// Context, cluster and user name (e.g. the target).
    pub name: String,
    /// The gateway URL for the target, e.g. `https://127.0.0.1:16443/k8s/prod`.
    pub server: String,
    /// PEM of the CA (or self-signed certificate) kubectl should trust for the gateway.
    pub ca_pem: String,
    /// Default namespace.
    pub namespace: String,
    /// How kubectl gets its token.
    pub user: KubeUser,
}

/// The credential a kubeconfig gives kubectl.
#[derive(Debug, Clone)]
pub enum KubeUser {
    /// A credential plugin: program and arguments printing an `ExecCredential`.
    Exec {
        /// The program.
        command: String,
        /// Its arguments.
        args: Vec<String>,
    },
    /// One bearer token, until it expires.
    Token(String),
}

/// The kubeconfig YAML (JSON is valid YAML; kubectl reads either).
pub fn kubeconfig(spec: &KubeconfigSpec) -> String {
    let v = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": spec.name, "cluster": {
            "server": spec.server,
            "certificate-authority-data": base64::engine::general_purpose::STANDARD.encode(&spec.ca_pem),
        }}],
        "users": [{"name": spec.name, "user": match &spec.user {
            KubeUser::Exec { command, args } => serde_json::json!({"exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": command,
                "args": args,
                "interactiveMode": "Never",
                "provideClusterInfo": false,
            }}),
            KubeUser::Token(t) => serde_json::json!({"token": t}),
        }}],
        "contexts": [{"name": spec.name, "context": {"cluster": spec.name, "user": spec.name, "namespace": spec.namespace}}],
        "current-context": spec.name,
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// The `ExecCredential` a credential plugin prints: the token and when kubectl must ask again.
pub fn exec_credential(token: &str, expires_at: i64) -> String {
    let expiry = chrono::DateTime::from_timestamp(expires_at, 0).map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default();
    serde_json::json!({
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {"token": token, "expirationTimestamp": expiry},
    })
    .to_string()
}
