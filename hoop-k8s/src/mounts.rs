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

/// Where one container mounts Secrets, and what its relative and `~` paths are read from.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Mounts {
    /// The mount paths, cleaned and with the usual links of an image followed.
    pub(crate) paths: Vec<String>,
    /// The container's `workingDir`, when its spec names one (else the image's, unknown).
    pub(crate) workdir: Option<String>,
    /// `HOME` as the container's spec sets it, when it does (else the image's user's, unknown).
    pub(crate) home: Option<String>,
}

/// Where the container the exec at `api_path` (`…/pods/NAME/exec`) runs in (`container` in
/// `query`, else the pod's first) mounts Secret volumes, plain or projected.
pub(crate) async fn secret_mounts(target: &crate::upstream::K8sTarget, api_path: &str, query: &str, identity: &Identity) -> Result<Mounts, String> {
    let Some(pod_path) = api_path.strip_suffix("/exec").or_else(|| api_path.strip_suffix("/attach")) else { return Ok(Mounts::default()) };
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

/// The Secret mounts of `container` (or the first container) in `pod`.
fn mounts_of(pod: &serde_json::Value, container: Option<&str>) -> Mounts {
    let list = |v: &serde_json::Value, at: &str| v.pointer(at).and_then(|l| l.as_array()).cloned().unwrap_or_default();
    let name = |v: &serde_json::Value| v.get("name").and_then(|n| n.as_str()).map(str::to_string);
    // A CSI volume counts whatever its driver: the Secrets Store driver mounts a vault's
    // secrets as files, cert-manager's a private key (red-team round 87: `secrets-store.csi.k8s.io`
    // was read in clear), and hoop cannot tell one driver's files from another's.
    let secret = |v: &serde_json::Value| {
        v.get("secret").is_some() || v.get("csi").is_some() || list(v, "/projected/sources").iter().any(|s| s.get("secret").is_some() || s.get("serviceAccountToken").is_some())
    };
    let names: Vec<String> = list(pod, "/spec/volumes").iter().filter(|v| secret(v)).filter_map(name).collect();
    let all: Vec<serde_json::Value> = ["/spec/containers", "/spec/initContainers", "/spec/ephemeralContainers"].iter().flat_map(|k| list(pod, k)).collect();
    let chosen = match container {
        Some(n) => all.iter().find(|c| name(c).as_deref() == Some(n)),
        None => all.first(),
    };
    let Some(c) = chosen else { return Mounts::default() };
    let paths = list(c, "/volumeMounts")
        .iter()
        .filter(|m| name(m).is_some_and(|n| names.contains(&n)))
        .filter_map(|m| m.get("mountPath").and_then(|p| p.as_str()))
        .filter(|p| p.starts_with('/'))
        .map(canonical)
        .collect();
    let workdir = c.get("workingDir").and_then(|w| w.as_str()).filter(|w| w.starts_with('/')).map(canonical);
    let home = list(c, "/env")
        .iter()
        .find(|e| name(e).as_deref() == Some("HOME") && e.get("valueFrom").is_none())
        .map(|e| e.get("value").and_then(|v| v.as_str()).unwrap_or_default().to_string())
        .filter(|h| h.starts_with('/'))
        .map(|h| canonical(&h));
    Mounts { paths, workdir, home }
}

/// Paths under the container's home as its spec sets it (`env: HOME=/app`) read as the home
/// directory's too (`~/…`), so that the rules about a home's configuration hold there as in
/// `/root` (red-team Kubernetes round 101: `tar -x -C <spec HOME>` was only held where `tar -x
/// -C /root` is refused, and, approved, planted `.bashrc` and `.ssh/authorized_keys`); a link to
/// that home is unreadable, as one to `/root` is.
pub(crate) fn home_aliases(action: &mut hoop_core::action::Action, mounts: &Mounts) {
    let Some(home) = mounts.home.as_deref().map(|h| h.trim_end_matches('/')).filter(|h| !h.is_empty() && *h != "/root" && !h.starts_with("/home/")) else { return };
    let alias = |p: &str| -> Option<String> {
        let rest = p.strip_prefix(home)?;
        match rest {
            "" | "/" => Some("~".to_string()),
            r if r.starts_with('/') => Some(format!("~{r}")),
            _ => None,
        }
    };
    let e = &mut action.exec;
    for list in [&mut e.paths, &mut e.writes] {
        let more: Vec<String> = list.iter().filter_map(|p| alias(p)).filter(|a| !list.contains(a)).collect();
        list.extend(more);
    }
    let links_home = e.programs.iter().any(|p| p == "ln") && e.paths.iter().any(|p| p.trim_end_matches('/') == home);
    if links_home && e.unreadable.is_empty() {
        e.unreadable = format!("a link to {home} (the container's home) names its files by another path");
    }
}

/// Links nearly every image has (merged `/usr`, `/var/run`): a path is read through them as the
/// container reads it (red-team round 86: `cat /run/x/password` read a Secret mounted at
/// `/var/run/x`).
const IMAGE_LINKS: [(&str, &str); 8] = [
    ("/var/run", "/run"),
    ("/var/lock", "/run/lock"),
    ("/bin", "/usr/bin"),
    ("/sbin", "/usr/sbin"),
    ("/lib", "/usr/lib"),
    ("/lib32", "/usr/lib32"),
    ("/lib64", "/usr/lib64"),
    ("/libx32", "/usr/libx32"),
];

/// `path` (absolute) cleaned (`//`, `.`, `..`: red-team round 86, a mount written
/// `/a//b` was not matched by `/a/b`) and read through [`IMAGE_LINKS`].
fn canonical(path: &str) -> String {
    let mut p = hoop_core::action::normalise_path(path);
    for (link, to) in IMAGE_LINKS {
        if let Some(rest) = p.strip_prefix(link)
            && (rest.is_empty() || rest.starts_with('/'))
        {
            p = format!("{to}{rest}");
            break;
        }
    }
    if p.len() > 1 { p.trim_end_matches('/').to_string() } else { p }
}

/// Programs that read no file's content (what `find` runs with `-exec` is a program of the
/// command too, and is judged as itself). Not `tree`, whose `--fromfile` prints a file's lines
/// (red-team round 88).
const LISTERS: [&str; 11] = ["ls", "find", "du", "stat", "realpath", "readlink", "basename", "dirname", "test", "[", "pwd"];

/// Whether `path` is `dir` or under it.
fn within(path: &str, dir: &str) -> bool {
    dir == "/" || path == dir || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

/// Why `command` may not run in a container mounting Secrets at `mounts`, if it reads one: a
/// path at or under a mount, a recursive read of a directory holding one (red-team round 86:
/// `grep -rh . /parent`), or a link or copy made of such a directory (`ln -s /etc /tmp/e`,
/// then `cat /tmp/e/secret-volume/password`). A relative or `~` path is read from the
/// container's working or home directory when its spec names it; when not, from each
/// directory above a mount (the image's, which hoop cannot know, may be any of them: round
/// 86's `cat sv/password` in a pod working above `sv`).
pub(crate) fn refusal(command: &hoop_core::action::Action, mounts: &Mounts) -> Option<String> {
    if mounts.paths.is_empty() {
        return None;
    }
    // Working inside a mount, a bare name is a file of the Secret (`cat password`), and hoop
    // does not read bare words as paths.
    if let Some(m) = mounts.workdir.as_ref().and_then(|w| mounts.paths.iter().find(|m| within(w, m))) {
        let bare = command.exec.commands.iter().flat_map(|argv| argv.iter().skip(1)).find(|w| !w.starts_with(['-', '/']) && !w.is_empty());
        if let Some(word) = bare {
            return Some(format!("{word} is read in the container's working directory, a Secret mounted at {m}: its values are the Secret's"));
        }
    }
    // Programs that only name, list or change the modes of files read no value: `ls` of a
    // mount, `find` next to one, `stat` of a key (round 87 found them refused).
    // (Not with a list of names read from a file, which `find` quotes in its errors: red-team
    // round 89, `find -files0-from db.conf`.)
    let names_from_file = command.exec.commands.iter().flatten().any(|a| a.trim_start_matches('-').starts_with("files0-from"));
    if command.exec.programs.iter().all(|p| LISTERS.contains(&p.as_str())) && !names_from_file {
        return None;
    }
    // diff reads the files of a directory operand (`diff FILE DIR` reads `DIR/FILE`, `diff -N
    // DIR1 DIR2` prints every file of either): each path it names is read whole (red-team
    // round 90: `diff -N /nonexistent/db.conf .` printed every mount of the working directory).
    let whole = command.exec.programs.iter().any(|p| matches!(p.as_str(), "diff" | "diff3" | "sdiff"));
    let links = command.exec.programs.iter().any(|p| matches!(p.as_str(), "ln" | "cp" | "link" | "mv" | "rsync" | "install"));
    // (`~user/x` is read as `/home/user/x` by the command's reader; in a container that
    // user's home is the image's: read it from anywhere above a mount.)
    let tilde = command.exec.commands.iter().flat_map(|argv| argv.iter().skip(1)).filter(|w| w.starts_with('~'));
    for written in command.exec.paths.iter().chain(tilde) {
        for at in places(written, mounts) {
            let (dir, recursive) = match at.strip_suffix("/**") {
                Some(d) => (canonical(if d.is_empty() { "/" } else { d }), true),
                None => (at.clone(), whole),
            };
            for m in &mounts.paths {
                if within(&dir, m) {
                    return Some(format!("{written} is in a Secret mounted in the pod at {m}: its values are the Secret's"));
                }
                if within(m, &dir) && recursive {
                    return Some(format!("{written} is read whole, and holds a Secret mounted in the pod at {m}"));
                }
                if within(m, &dir) && links {
                    return Some(format!("{written} holds a Secret mounted in the pod at {m}: a link or copy of it would read the Secret under another name"));
                }
            }
        }
    }
    None
}

/// The absolute paths `path` (as the command's reader gave it) may name in the container.
fn places(path: &str, mounts: &Mounts) -> Vec<String> {
    let join = |base: &str, rest: &str| canonical(&format!("{base}/{rest}"));
    let (base, rest) = if path.starts_with('/') {
        return vec![canonical(path)];
    } else if let Some(after) = path.strip_prefix('~') {
        match after.split_once('/').unwrap_or((after, "")) {
            ("", rest) => (mounts.home.clone(), rest.to_string()),
            (_, rest) => (None, rest.to_string()),
        }
    } else {
        (mounts.workdir.clone(), path.to_string())
    };
    match base {
        Some(b) => vec![join(&b, &rest)],
        None => {
            // Every directory above a mount: `/`, then each of the mount's parents.
            let mut out = vec![join("/", &rest)];
            for m in &mounts.paths {
                let mut dir = m.as_str();
                while let Some((parent, _)) = dir.rsplit_once('/') {
                    let parent = if parent.is_empty() { "/" } else { parent };
                    out.push(join(parent, &rest));
                    if parent == "/" {
                        break;
                    }
                    dir = parent;
                }
            }
            out
        }
    }
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
        assert_eq!(mounts_of(&pod, None).paths, ["/etc/secret-volume"]);
        assert_eq!(mounts_of(&pod, Some("side")).paths, ["/run/p"]);
        let mounts = mounts_of(&pod, None);
        let reads = |line: &str| refusal(&hoop_core::action::Action::exec_in("k", line, &hoop_core::action::typed::Cwd::Container(None)), &mounts).is_some();
        assert!(reads("cat /etc/secret-volume/password"));
        assert!(!reads("cat /etc/secret-volume-other/x /cache/x"));
    }

    /// Red-team round 86: every spelling of a mounted Secret's path, as the container reads it.
    #[test]
    fn paths_are_read_as_the_container_reads_them() {
        let pod = |mount: &str, extra: serde_json::Value| {
            let mut c = serde_json::json!({"name": "app", "volumeMounts": [{"name": "creds", "mountPath": mount}]});
            c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            serde_json::json!({"spec": {"volumes": [{"name": "creds", "secret": {"secretName": "db"}}], "containers": [c]}})
        };
        let reads = |m: &Mounts, line: &str| refusal(&hoop_core::action::Action::exec_in("k", line, &hoop_core::action::typed::Cwd::Container(None)), m).is_some();
        // A mount written unclean, or under a link every image has.
        for (mount, line) in [("/a//b/sv", "cat /a/b/sv/password"), ("/a/x/../sv", "cat /a/sv/password"), ("/var/run/sv", "cat /run/sv/password"), ("/run/sv", "cat /var/run/sv/password")] {
            assert!(reads(&mounts_of(&pod(mount, serde_json::json!({})), None), line), "{mount}: {line}");
        }
        // Relative paths from the working directory the spec names, or from any above the
        // mount when it names none; `~` likewise.
        let known = mounts_of(&pod("/srv/app/sv", serde_json::json!({"workingDir": "/srv/app", "env": [{"name": "HOME", "value": "/srv"}]})), None);
        assert!(reads(&known, "cat sv/password") && reads(&known, "cat ./sv/..data/password") && reads(&known, "cat ~/app/sv/password"));
        assert!(!reads(&known, "cat other/password") && !reads(&known, "cat ~/sv/password"));
        let inside = mounts_of(&pod("/srv/app/sv", serde_json::json!({"workingDir": "/srv/app/sv"})), None);
        assert!(reads(&inside, "cat password"));
        let unknown = mounts_of(&pod("/srv/app/sv", serde_json::json!({})), None);
        for line in ["cat sv/password", "cat app/sv/password", "cat srv/app/sv/x", "cat ~/sv/password", "cat ~app/sv/password", "grep -r x app"] {
            assert!(reads(&unknown, line), "{line}");
        }
        assert!(!reads(&unknown, "cat notes.txt") && !reads(&unknown, "ls /srv/app"));
        // A directory holding the mount read whole, or linked or copied.
        for line in ["grep -rh . /srv/app", "grep -R x /srv", "ln -s /srv/app /tmp/e", "cp -a /srv /tmp/x", "ln -s / /tmp/root"] {
            assert!(reads(&unknown, line), "{line}");
        }
        // Round 87: bare names are files of the working directory, as `./name` is; listing
        // reads no value.
        let app = mounts_of(&pod("/app/db.conf", serde_json::json!({"workingDir": "/app"})), None);
        for line in ["cat db.conf", "base64 db.conf", "diff -N db.conf /tmp/empty", "tar cf - db.conf", "grep . db.conf"] {
            assert!(reads(&app, line), "{line}");
        }
        for line in ["ls /app", "ls -la db.conf", "stat /app/db.conf", "find . -maxdepth 1 -name readme", "cat notes.txt"] {
            assert!(!reads(&app, line), "{line}");
        }
        // Round 88: names that look like counts are names; `date -f` reads; `tree --fromfile` prints.
        for line in ["date -f db.conf", "tree --fromfile db.conf", "find -files0-from db.conf", "find . -files0-from ./db.conf", "diff -N /nonexistent/db.conf .", "diff -N /srv /app", "diff --to-file=. x"] {
            assert!(reads(&app, line), "{line}");
        }
        for name in ["10", "2024.pem", "1k"] {
            let m = mounts_of(&pod(&format!("/app/{name}"), serde_json::json!({"workingDir": "/app"})), None);
            assert!(reads(&m, &format!("cat {name}")) && reads(&m, &format!("nice -n 5 cat {name}")), "{name}");
        }
        let csi = serde_json::json!({"spec": {"volumes": [{"name": "v", "csi": {"driver": "secrets-store.csi.k8s.io"}}], "containers": [{"name": "app", "volumeMounts": [{"name": "v", "mountPath": "/mnt/vault"}]}]}});
        assert!(reads(&mounts_of(&csi, None), "cat /mnt/vault/password"));
    }
}
