//! Request paths: refused when they could mean something else to the API server than to the
//! rules (traversal, encoded separators), and split into the target and the API path.

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// `..`, `.`, empty segments, backslashes or encoded separators and dots.
    #[error("the request path is not in canonical form (no '..', '.', '//', backslashes or encoded '/', '\\\\' or '.')")]
    NotCanonical,
    /// No target of that name, or none named.
    #[error("unknown target {0:?}: use a server URL ending in /k8s/<target>")]
    UnknownTarget(String),
}

/// Checks that `raw` (the path as sent, still percent-encoded) is canonical: rules see exactly
/// the path the API server will act on.
pub fn check(raw: &str) -> Result<(), PathError> {
    if !raw.starts_with('/') || raw.contains('\\') || raw.contains("//") {
        return Err(PathError::NotCanonical);
    }
    let lower = raw.to_ascii_lowercase();
    if ["%2f", "%5c", "%2e", "%00"].iter().any(|e| lower.contains(e)) {
        return Err(PathError::NotCanonical);
    }
    if raw.split('/').any(|s| s == ".." || s == ".") {
        return Err(PathError::NotCanonical);
    }
    Ok(())
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
            assert_eq!(check(bad), Err(PathError::NotCanonical), "{bad}");
        }
        assert!(check("/api/v1/namespaces/a/pods/web-1").is_ok());
        assert!(check("/").is_ok());
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
