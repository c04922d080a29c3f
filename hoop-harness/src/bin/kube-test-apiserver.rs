//! Runs the harness's test Kubernetes API server until killed (for benchmarks and trying
//! kubectl by hand). Usage: `kube-test-apiserver [PORT] [PODS] [TOKEN]`; prints `key: value`
//! lines (url, ca_file, token, kubeconfig).

fn main() {
    let mut args = std::env::args().skip(1);
    let mut opts = hoop_harness::KubeApiOptions::default();
    if let Some(p) = args.next().and_then(|p| p.parse().ok()) {
        opts.port = p;
    }
    if let Some(n) = args.next().and_then(|n| n.parse().ok()) {
        opts.pods = n;
    }
    if let Some(t) = args.next() {
        opts.token = t;
    }
    let api = match hoop_harness::KubeApi::start(opts) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("kube-test-apiserver: {e}");
            std::process::exit(1);
        }
    };
    println!("url: {}", api.url());
    println!("ca_file: {}", api.ca_file().display());
    println!("token: {}", api.token());
    match api.kubeconfig() {
        Ok(p) => println!("kubeconfig: {}", p.display()),
        Err(e) => eprintln!("kube-test-apiserver: kubeconfig: {e}"),
    }
    loop {
        std::thread::park();
    }
}
