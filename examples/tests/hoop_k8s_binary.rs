//! The `hoop-k8s` binary as a user runs it: started with flags in front of the test API
//! server, `hoop-k8s kubeconfig` gives kubectl a config holding one short-lived token (and no
//! key, nor a command that could mint another).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn kubeconfig_with_a_short_lived_token_works_with_kubectl() {
    let api = hoop_harness::KubeApi::start(Default::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let bin = env!("CARGO_BIN_EXE_hoop-k8s");
    // A port found free can be taken before the gateway binds it (tests run in parallel): it
    // then exits with the error, and we try again with another.
    // Its stdout stays open for the whole test: a later line to a closed pipe would kill it.
    let (_gw, _stdout, listen) = 'start: {
        for _attempt in 0..5 {
            let listen = format!("127.0.0.1:{}", hoop_harness::free_port().unwrap());
            let mut gw = Child(
                Command::new(bin)
                    .args(["--data-dir", data.to_str().unwrap(), "--listen", &listen, "--upstream", &api.url(), "--ca-file"])
                    .arg(api.ca_file())
                    .args(["--upstream-token", "env:KUBE_TOKEN"])
                    .env("KUBE_TOKEN", api.token())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            );
            // It prints its listening line once bound, or exits.
            let mut first = String::new();
            let mut stdout = std::io::BufReader::new(gw.0.stdout.take().unwrap());
            let _ = std::io::BufRead::read_line(&mut stdout, &mut first);
            if first.contains("listening") && gw.0.try_wait().unwrap().is_none() {
                break 'start (gw, stdout, listen);
            }
        }
        panic!("hoop-k8s did not start");
    };
    let kc = Command::new(bin)
        .args(["--data-dir", data.to_str().unwrap(), "--listen", &listen, "kubeconfig", "--subject", "alice", "--kind", "human", "--ttl", "60"])
        .output()
        .unwrap();
    assert!(kc.status.success(), "{}", String::from_utf8_lossy(&kc.stderr));
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, &kc.stdout).unwrap();
    let text = String::from_utf8_lossy(&kc.stdout);
    assert!(!text.contains("exec") && !text.contains("data-dir") && text.contains("\"token\""), "{text}");
    let o = Command::new("kubectl").env("KUBECONFIG", &path).env("HOME", dir.path()).args(["get", "pods"]).output().unwrap();
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success() && out.contains("pod-1"), "{out} {err}");
    let cred = Command::new(bin)
        .args(["--data-dir", data.to_str().unwrap(), "token", "--subject", "alice", "--exec-credential"])
        .output()
        .unwrap();
    let cred = String::from_utf8_lossy(&cred.stdout);
    assert!(cred.contains("\"kind\":\"ExecCredential\"") && cred.contains("expirationTimestamp"), "{cred}");
}
