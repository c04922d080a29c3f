//! Files whose names say they hold credentials that masking cannot find by their shape: a
//! private key (any line of whose body is the key) and an environment file (`NAME=value`
//! lines, whose values a program that cuts lines prints without their names).
//!
//! One place for these names: the shell reader takes such a bare name for a path
//! ([`super::shell`]), and a command's paths that carry one are listed in
//! `action.exec.key_files` and `action.exec.env_files`, which the default rules hold.

/// The paths among `paths` whose names say they hold a private key.
pub(crate) fn key_files(paths: &[String]) -> Vec<String> {
    paths.iter().filter(|p| names_private_key(p)).cloned().collect()
}

/// The paths among `paths` whose names say they are environment files.
pub(crate) fn env_files(paths: &[String]) -> Vec<String> {
    paths.iter().filter(|p| names_env_file(p)).cloned().collect()
}

/// Whether a file's name says it holds a private key (`id_ed25519`, `id_rsa_prod`,
/// `deploy_key`, `github_rsa`, `server.key`, `tls.pem`, `cert.p12`); its `.pub` half does not.
/// (`action.exec.key_files`.)
pub(crate) fn names_private_key(path: &str) -> bool {
    let name = &unbacked(path);
    if name.ends_with(".pub") {
        return false;
    }
    let id = name.strip_prefix("id_").is_some_and(|k| ["rsa", "dsa", "ecdsa", "ed25519"].iter().any(|t| k.starts_with(t)));
    let suffixed = |ends: &[&str]| ends.iter().any(|e| name.len() > e.len() && name.ends_with(e));
    id || suffixed(&["_key", "-key", "_rsa", "-rsa", "_dsa", "-dsa", "_ecdsa", "-ecdsa", "_ed25519", "-ed25519", ".key", ".pem", ".ppk", ".p12", ".pfx"])
}

/// Whether a file's name says it holds `NAME=value` settings for a program's environment
/// (`prod.env`, `app.env.local`). (`action.exec.env_files`.)
pub(crate) fn names_env_file(path: &str) -> bool {
    unbacked(path).split('.').skip(1).any(|part| part == "env")
}

/// A file's name in lower case without the suffixes of its backups (`deploy_key~`,
/// `server.PEM.bak`, `tls.key.orig`, `id_rsa.1`: SSH red-team round 100 read each in clear).
fn unbacked(path: &str) -> String {
    let mut name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    loop {
        let before = name.len();
        if let Some(n) = name.strip_suffix('~') {
            name = n.to_string();
        }
        if let Some((stem, suffix)) = name.rsplit_once('.')
            && !stem.is_empty()
            && (["bak", "old", "orig", "save", "backup"].contains(&suffix) || (!suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit())))
        {
            name = stem.to_string();
        }
        if name.len() == before {
            return name;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_in_any_case_and_as_backups() {
        for p in ["id_ed25519", "/home/u/.ssh/id_rsa_prod", "deploy_key", "deploy-key", "github_rsa", "server.PEM", "tls.key.orig", "cert.p12", "app.pfx", "putty.ppk", "deploy_key~", "id_rsa.1", "server.pem.bak.2", "ssh_host_ed25519_key"] {
            assert!(names_private_key(p), "{p}");
        }
        for p in ["id_rsa.pub", "/home/u/.ssh/id_ed25519.PUB", "key", "_key", "keys.txt", "monkey", "notes.md", "known_hosts", "authorized_keys"] {
            assert!(!names_private_key(p), "{p}");
        }
    }

    #[test]
    fn env_file_names_in_any_case_and_as_backups() {
        for p in [".env", "/app/.env.production", "prod.env", "app.env.local", ".ENV~", "config.env.sample", "x.env.bak"] {
            assert!(names_env_file(p), "{p}");
        }
        for p in [".envrc", "env", "environment", "/usr/bin/env", "venv/bin/python", "env.sh"] {
            assert!(!names_env_file(p), "{p}");
        }
    }
}
