//! Issuing is bounded by the issuer: what an identity may hand out over the API.
//!
//! Whoever asks the gateway for a credential (a token, a client credential, an SSH
//! certificate) gets one that never exceeds its own grant: it needs the `token-issuer` group,
//! grants only groups and targets it holds, only subjects its patterns allow, nothing that
//! outlives it, and an agent never obtains a human identity or the `review` group, whoever asks.

use super::{AuthError, TokenSpec, token::ISSUE_GROUP, token::MAX_TTL_SECS};
use crate::identity::{Identity, IdentityKind};

/// The group of the operator's own token (minted from the data dir): it may grant any group.
/// It is never granted over the API.
pub const ANY_GROUP: &str = "*";

/// Checks `spec` against `issuer`'s grant at time `now`, shortening its lifetime to the
/// issuer's own; the reason if it exceeds the grant.
pub fn bound(issuer: &Identity, spec: &mut TokenSpec, now: i64) -> Result<(), AuthError> {
    let refuse = |why: String| Err(AuthError::Permission(format!("{} {why}", issuer.subject)));
    if !issuer.in_group(ISSUE_GROUP) {
        return refuse(format!("is not in group {ISSUE_GROUP:?} and may not issue credentials"));
    }
    invariants(spec)?;
    if spec.kind == IdentityKind::Human && issuer.kind != IdentityKind::Human {
        return refuse("is an agent and may not issue a human identity".into());
    }
    if spec.groups.iter().any(|g| g == ANY_GROUP) {
        return refuse(format!("may not grant the group {ANY_GROUP:?}"));
    }
    if let Some(g) = spec.groups.iter().find(|g| !issuer.in_group(g) && !issuer.in_group(ANY_GROUP)) {
        return refuse(format!("may not grant group {g:?}, which it does not hold"));
    }
    if let Some(t) = spec.targets.iter().find(|t| !issuer.may_grant(t)) {
        return refuse(format!("may not grant target {t:?}, which it cannot reach"));
    }
    if !may_name(issuer, &spec.subject) {
        return refuse(format!("may not issue for subject {:?} (allowed: {})", spec.subject, subject_patterns(issuer).join(", ")));
    }
    if spec.ttl_secs <= 0 || spec.ttl_secs > MAX_TTL_SECS {
        return Err(AuthError::Claim(format!("ttl must be 1..={MAX_TTL_SECS} seconds")));
    }
    if issuer.expires_at > 0 {
        let left = issuer.expires_at - now;
        if left <= 0 {
            return Err(AuthError::Expired);
        }
        spec.ttl_secs = spec.ttl_secs.min(left);
    }
    Ok(())
}

/// The revocation ids a credential issued by `issuer` stands on: the issuer's credentials and
/// its subject, so revoking either (`subject:orchestrator`) ends what it issued, at any depth.
pub fn lineage(issuer: &Identity) -> Vec<String> {
    let mut from = issuer.credentials.clone();
    // What an agent mints spends the agent's budgets and session limit, whatever name it
    // gives (red-team round 51: a client allowed `ci/*` minted `ci/job-1`, `ci/job-2`, … each
    // with empty budgets). Signed into the token with the rest of its lineage.
    if issuer.kind == crate::identity::IdentityKind::Agent {
        let budget = format!("budget:{}", issuer.budget_subject());
        if !from.contains(&budget) {
            from.push(budget);
        }
    }
    let own = format!("subject:{}", issuer.subject);
    if !from.contains(&own) {
        from.push(own);
    }
    from
}

/// What no credential may be, whoever issues it (the data dir's key included).
pub fn invariants(spec: &TokenSpec) -> Result<(), AuthError> {
    // Printable ASCII only. No whitespace: a revocation id (`subject:<name>`) must be able to
    // name every subject. No invisible or direction-changing character (red-team identity
    // round 81: `ci/\u{202e}rotarepo` read as `ci/operator` wherever it was printed raw), and
    // no look-alike of another name (round 89: `ci/r\u{ff11}` read as the revoked `ci/r1` in
    // `approvals list` and `revoke --list`, and `x\u{ff0a}` as an issuing pattern).
    if spec.subject.len() > 256 || !printable_name(&spec.subject) {
        return Err(AuthError::Claim("subject must be 1..=256 printable ASCII characters without spaces or commas".into()));
    }
    // `orch/../admin` is under `orch/` to a prefix test and reads as `admin` to a person.
    if spec.subject.split('/').skip(1).any(|part| part.is_empty() || part == "." || part == "..") {
        return Err(AuthError::Claim("a subject's parts after a `/` may not be empty, `.` or `..`".into()));
    }
    if spec.kind == IdentityKind::Agent
        && let Some(g) = spec.groups.iter().find(|g| crate::identity::PEOPLE_ONLY_GROUPS.contains(&g.as_str()))
    {
        return Err(AuthError::Permission(format!("agents never hold the {g:?} group")));
    }
    // A `*` is how issuing patterns are written: a subject holding one read as a pattern to
    // whoever holds it, and as several identities to whoever reads a list (red-team identity
    // round 88 minted a subject named `ci/*`).
    if spec.subject.contains('*') {
        return Err(AuthError::Claim("a subject may not hold `*`".into()));
    }
    Ok(())
}

/// Whether `name` may name a subject: printable ASCII, without spaces or commas, not empty.
pub fn printable_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_graphic() && c != ',')
}

/// The subject patterns of `issuer`: its own, or its own subject and the names under it.
pub fn subject_patterns(issuer: &Identity) -> Vec<String> {
    if issuer.issue_subjects.is_empty() {
        vec![issuer.subject.clone(), format!("{}/*", issuer.subject)]
    } else {
        issuer.issue_subjects.clone()
    }
}

/// Whether `subject` matches one of `issuer`'s patterns.
pub fn may_name(issuer: &Identity, subject: &str) -> bool {
    subject_patterns(issuer).iter().any(|p| matches(p, subject))
}

/// Whether every subject `pattern` allows is one `issuer` may name: the pattern itself is
/// allowed, or it narrows an allowed prefix pattern (`agent-*` within `*`, `ci/job-*` within `ci/*`).
pub fn may_delegate(issuer: &Identity, pattern: &str) -> bool {
    valid_pattern(pattern)
        && subject_patterns(issuer).iter().any(|p| p == pattern || p.strip_suffix('*').is_some_and(|prefix| pattern.starts_with(prefix)))
}

/// A pattern is a name with at most one `*`, at its end.
pub fn valid_pattern(p: &str) -> bool {
    !p.is_empty() && !p.trim_end_matches('*').contains('*') && p.matches('*').count() <= 1 && !p.chars().any(char::is_control)
}

fn matches(pattern: &str, subject: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => subject.starts_with(prefix) && subject.len() > prefix.len(),
        None => pattern == subject,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(kind: IdentityKind, groups: &[&str], targets: &[&str]) -> Identity {
        let mut i = Identity::new("ci", kind);
        i.groups = groups.iter().map(|g| g.to_string()).collect();
        i.targets = targets.iter().map(|t| t.to_string()).collect();
        i.expires_at = 10_000;
        i
    }

    fn spec(subject: &str, kind: IdentityKind, groups: &[&str], targets: &[&str], ttl: i64) -> TokenSpec {
        TokenSpec {
            subject: subject.into(),
            kind,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            targets: targets.iter().map(|t| t.to_string()).collect(),
            ttl_secs: ttl,
        }
    }

    #[test]
    fn every_escalation_is_refused() {
        use IdentityKind::{Agent, Human};
        let agent = issuer(Agent, &["token-issuer", "etl"], &["pg"]);
        let ok = |i: &Identity, mut s: TokenSpec| bound(i, &mut s, 9_000).map(|_| s.ttl_secs);
        assert_eq!(ok(&agent, spec("ci/job-1", Agent, &["etl"], &["pg"], 3600)), Ok(1000), "lifetime cut to the issuer's");
        // A subject that reads as another (red-team identity round 81: `ci/\u{202e}rotarepo`).
        // Nor a look-alike of another (round 89: `ci/r\u{ff11}` read as the revoked `ci/r1`,
        // `ci/\u{ff0a}` as a pattern).
        for bad in ["ci/\u{202e}rotarepo\u{202c}", "ci/a\u{200b}b", "ci/\u{2066}x", "ci/r\u{ff11}", "ci/\u{ff0a}", "ci/\u{0430}dmin", "ci/\u{e9}"] {
            assert!(ok(&agent, spec(bad, Agent, &["etl"], &["pg"], 60)).is_err(), "{bad:?}");
        }
        assert!(ok(&agent, spec("ci", Agent, &[], &[], 60)).is_ok());
        for (what, s) in [
            ("human", spec("ci/job-1", Human, &[], &["pg"], 60)),
            ("review", spec("ci/job-1", Agent, &["review"], &["pg"], 60)),
            ("group it lacks", spec("ci/job-1", Agent, &["audit"], &["pg"], 60)),
            ("target it lacks", spec("ci/job-1", Agent, &[], &["prod"], 60)),
            ("every target", spec("ci/job-1", Agent, &[], &["*"], 60)),
            ("another subject", spec("admin", Agent, &[], &["pg"], 60)),
            ("a prefix lookalike", spec("ci-admin", Agent, &[], &["pg"], 60)),
            ("ttl", spec("ci/job-1", Agent, &[], &["pg"], MAX_TTL_SECS + 1)),
            ("comma", spec("ci/a,b", Agent, &[], &["pg"], 60)),
            ("trailing space", spec("ci/evade ", Agent, &[], &["pg"], 60)),
        ] {
            assert!(ok(&agent, s).is_err(), "{what}");
        }
        let expired = Identity { expires_at: 100, ..agent.clone() };
        assert_eq!(ok(&expired, spec("ci/x", Agent, &[], &[], 60)), Err(AuthError::Expired));
        let plain = issuer(Human, &["review"], &["*"]);
        assert!(ok(&plain, spec("ci", Agent, &[], &[], 60)).is_err(), "not an issuer");
        // A human issuer with review still never gives review to an agent.
        let mut op = issuer(Human, &["token-issuer", "review"], &["*"]);
        op.issue_subjects = vec!["*".into()];
        assert!(ok(&op, spec("bot", Agent, &["review"], &["*"], 60)).is_err());
        assert!(ok(&op, spec("bob", Human, &["review"], &["*"], 60)).is_ok());
        // Nor `audit`, which reads every session (red-team identity round 88), nor a subject
        // that reads as a pattern.
        let mut op = issuer(Human, &["token-issuer", "audit"], &["*"]);
        op.issue_subjects = vec!["*".into()];
        assert!(ok(&op, spec("bot", Agent, &["audit"], &["*"], 60)).is_err());
        assert!(ok(&op, spec("ann", Human, &["audit"], &["*"], 60)).is_ok());
        assert!(ok(&op, spec("ci/*", Agent, &[], &["*"], 60)).is_err());
    }

    #[test]
    fn patterns_narrow() {
        let mut i = issuer(IdentityKind::Human, &["token-issuer"], &["*"]);
        i.issue_subjects = vec!["ci/*".into()];
        assert!(may_delegate(&i, "ci/job-*"));
        assert!(may_delegate(&i, "ci/x"));
        assert!(!may_delegate(&i, "*"));
        assert!(!may_delegate(&i, "c*"));
        assert!(!may_delegate(&i, "ci/*/x*"));
        assert!(may_name(&i, "ci/7"));
        assert!(!may_name(&i, "ci/"));
    }
}
