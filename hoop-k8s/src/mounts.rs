//! Where a pod's container mounts Secrets: read from the pod itself, through the gateway's own
//! request, before an agent's exec in it is judged.
//!
//! A Secret mounted as a volume is a file of bare values, which masking cannot tell, at a path
//! the pod spec chooses (red-team round 85: `cat /etc/secret-volume/password` returned the
//! password, while `kubectl get secret` was refused). An exec naming a path under such a mount
//! is refused like a read of the Secret.

use hoop_core::identity::Identity;
use http_body_util::BodyExt;

/// The pod spec read at most (a pod is far smaller).
const MAX_POD: usize = 4 << 20;

/// The rule name of the gateway's refusal of a read of a mounted Secret.
pub(crate) const RULE: &str = "hoop-secret-mounts";

/// The mount paths of Secret volumes (plain or projected) in the container the exec at
/// `api_path` (`…/pods/NAME/exec`) runs in (`container` in `query`, else the pod's first).
pub(crate) async fn secret_mounts(target: &crate::upstream::K8sTarget, api_path: &str, query: &str, identity: &Identity) -> Result<Vec<String>, String> {
    let Some(pod_path) = api_path.strip_suffix("/exec").or_else(|| api_path.strip_suffix("/attach")) else { return Ok(Vec::new()) };
    let mut upstream = target.connect().await.map_err(|e| format!("hoop could not reach the API server: {e}"))?;
    let req = target.request(&hyper::Method::GET, pod_path, &hyper::HeaderMap::new(), identity, crate::body::empty());
    let resp = upstream.send_request(req).await.map_err(|e| format!("reading the pod: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("reading the pod: the API server answered {}", resp.status()));
    }
    let body = http_body_util::Limited::new(resp.into_body(), MAX_POD).collect().await.map_err(|e| format!("reading the pod: {e}"))?.to_bytes();
    let pod: serde_json::Value = serde_json::from_slice(&body).map_err(|e| format!("reading the pod: {e}"))?;
    let container = form_urlencoded::parse(query.as_bytes()).find(|(n, _)| n == "container").map(|(_, v)| v.into_owned());
    Ok(mounts_of(&pod, container.as_deref()))
}

/// The Secret mount paths of `container` (or the first container) in `pod`.
fn mounts_of(pod: &serde_json::Value, container: Option<&str>) -> Vec<String> {
    let list = |v: &serde_json::Value, at: &str| v.pointer(at).and_then(|l| l.as_array()).cloned().unwrap_or_default();
    let name = |v: &serde_json::Value| v.get("name").and_then(|n| n.as_str()).map(str::to_string);
    let secret = |v: &serde_json::Value| {
        v.get("secret").is_some() || list(v, "/projected/sources").iter().any(|s| s.get("secret").is_some() || s.get("serviceAccountToken").is_some())
    };
    let names: Vec<String> = list(pod, "/spec/volumes").iter().filter(|v| secret(v)).filter_map(name).collect();
    let all: Vec<serde_json::Value> = ["/spec/containers", "/spec/initContainers", "/spec/ephemeralContainers"].iter().flat_map(|k| list(pod, k)).collect();
    let chosen = match container {
        Some(n) => all.iter().find(|c| name(c).as_deref() == Some(n)),
        None => all.first(),
    };
    let Some(c) = chosen else { return Vec::new() };
    list(c, "/volumeMounts")
        .iter()
        .filter(|m| name(m).is_some_and(|n| names.contains(&n)))
        .filter_map(|m| m.get("mountPath").and_then(|p| p.as_str()))
        .map(|p| p.trim_end_matches('/').to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Why `command` may not run in a container mounting Secrets at `mounts`, if it names a path
/// under one.
pub(crate) fn refusal(command: &hoop_core::action::Action, mounts: &[String]) -> Option<String> {
    under(&command.exec.paths, mounts).map(|p| format!("{p} is in a Secret mounted in the pod: its values are the Secret's"))
}

/// The first of `paths` at or under one of `mounts`.
pub(crate) fn under<'a>(paths: &'a [String], mounts: &[String]) -> Option<&'a String> {
    paths.iter().find(|p| mounts.iter().any(|m| p.as_str() == m || p.strip_prefix(m.as_str()).is_some_and(|rest| rest.starts_with('/'))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_volumes_of_the_chosen_container() {
        let pod = serde_json::json!({"spec": {
            "volumes": [
                {"name": "creds", "secret": {"secretName": "db"}},
                {"name": "proj", "projected": {"sources": [{"secret": {"name": "x"}}]}},
                {"name": "cache", "emptyDir": {}}
            ],
            "containers": [
                {"name": "app", "volumeMounts": [{"name": "creds", "mountPath": "/etc/secret-volume/"}, {"name": "cache", "mountPath": "/cache"}]},
                {"name": "side", "volumeMounts": [{"name": "proj", "mountPath": "/run/p"}]}
            ]
        }});
        assert_eq!(mounts_of(&pod, None), ["/etc/secret-volume"]);
        assert_eq!(mounts_of(&pod, Some("side")), ["/run/p"]);
        let mounts = mounts_of(&pod, None);
        assert!(under(&["/etc/secret-volume/password".into()], &mounts).is_some());
        assert!(under(&["/etc/secret-volume-other/x".into(), "/cache/x".into()], &mounts).is_none());
    }
}
