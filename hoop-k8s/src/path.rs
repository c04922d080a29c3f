//! Request paths: decoded once into the form the API server acts on, refused when they could
//! mean something else to it than to the rules, and split into the target and the API path.

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// `..`, `.`, empty segments, backslashes, encoded separators, or characters that could be
    /// read two ways once decoded.
    #[error("the request path is not in canonical form (no '..', '.', '//', backslashes, encoded '/', malformed escapes or control characters)")]
    NotCanonical,
    /// No target of that name, or none named.
    #[error("unknown target {0:?}: use a server URL ending in /k8s/<target>")]
    UnknownTarget(String),
}

/// The path the API server will act on: `raw` (as sent, percent-encoded) decoded once, as
/// Go's `URL.Path` is, and checked segment by segment. Rules see this path and it is the one
/// forwarded, so the two can never differ; anything that would not survive being decoded and
/// sent again unchanged is refused.
pub fn canonical(raw: &str) -> Result<String, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotCanonical);
    }
    let decoded = hoop_core::action::percent_decode(raw).ok_or(PathError::NotCanonical)?;
    // An encoded `/` would add a segment once decoded; encoded `%` would decode twice.
    let lower = raw.to_ascii_lowercase();
    if ["%2f", "%5c", "%25"].iter().any(|e| lower.contains(e)) {
        return Err(PathError::NotCanonical);
    }
    if decoded.contains("//") || !decoded.chars().all(plain) {
        return Err(PathError::NotCanonical);
    }
    if decoded.split('/').any(|s| s == ".." || s == ".") {
        return Err(PathError::NotCanonical);
    }
    Ok(decoded)
}

/// Characters a decoded path may hold: RFC 3986 unreserved and sub-delimiters, `:` and `@`.
/// All of them mean the same thing encoded or not, so the decoded path is sent as it is.
fn plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "/-._~!$&'()*+,;=:@".contains(c)
}


/// Splits `/k8s/<target>/<api path>` into the target and the API path; a gateway with a single
/// Kubernetes target also serves it at the root.
pub fn route<'a>(raw: &'a str, single: Option<&'a str>, known: impl Fn(&str) -> bool) -> Result<(&'a str, &'a str), PathError> {
    if let Some(rest) = raw.strip_prefix("/k8s/") {
        let (target, api) = match rest.find('/') {
            Some(i) => (rest.get(..i).unwrap_or_default(), rest.get(i..).unwrap_or("/")),
            None => (rest, "/"),
        };
        return if known(target) { Ok((target, api)) } else { Err(PathError::UnknownTarget(target.to_string())) };
    }
    match single {
        Some(t) => Ok((t, raw)),
        None => Err(PathError::UnknownTarget(String::new())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoded_once_as_the_api_server_does() {
        assert_eq!(canonical("/api/v1/%6eamespaces/staging").as_deref(), Ok("/api/v1/namespaces/staging"));
        assert_eq!(canonical("/api/v1/namespaces/a/%73ecrets/db").as_deref(), Ok("/api/v1/namespaces/a/secrets/db"));
        for bad in ["/api/v1/%2e%2e/x", "/api/v1/%252e", "/api/v1/%zz", "/api/v1/%c3", "/api/v1/a%20b", "/api/v1/a%0ab", "/api/v1/%3f", "/api/v1/a%23b"] {
            assert_eq!(canonical(bad), Err(PathError::NotCanonical), "{bad}");
        }
    }

    #[test]
    fn traversal_and_encoded_separators_refused() {
        for bad in [
            "/api/v1/namespaces/a/pods/../../secrets",
            "/api/v1/namespaces/a/pods/%2e%2e/secrets",
            "/api/v1/namespaces/a/pods/x%2Fy",
            "/api/v1//secrets",
            "/api/v1/./secrets",
            "/api/v1/pods\\x",
            "api/v1",
        ] {
            assert_eq!(canonical(bad), Err(PathError::NotCanonical), "{bad}");
        }
        assert!(canonical("/api/v1/namespaces/a/pods/web-1").is_ok());
        assert!(canonical("/").is_ok());
    }

    #[test]
    fn targets_by_prefix() {
        let known = |t: &str| t == "prod" || t == "dev";
        assert_eq!(route("/k8s/prod/api/v1/pods", None, known), Ok(("prod", "/api/v1/pods")));
        assert_eq!(route("/k8s/prod", None, known), Ok(("prod", "/")));
        assert!(route("/k8s/nope/api", None, known).is_err());
        assert!(route("/api/v1/pods", None, known).is_err());
        assert_eq!(route("/api/v1/pods", Some("dev"), known), Ok(("dev", "/api/v1/pods")));
    }
}
