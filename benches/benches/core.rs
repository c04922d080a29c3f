//! Core micro-benchmarks: one CEL decision under the default rules (and with a user rule that
//! needs the interpreter), one statement's whole check (analysis, policy, masking and the
//! recorded action, written to disk), SQL analysis with and without the shape cache, and masking
//! throughput.
#![allow(clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hoop_benches::{MIXED_TEXT_BYTES, base64_text, mixed_text};
use hoop_core::action::Action;
use hoop_core::auth::Credential;
use hoop_core::identity::{Identity, IdentityKind};
use hoop_core::mask::{MaskConfig, Masker};
use hoop_core::policy::{CelPolicy, Policy, Then, defaults};
use hoop_core::session::{Protocol, Session, SessionId, TargetInfo};
use std::hint::black_box;

/// An agent's session on a target with a sensitive table, as rules see it.
fn agent_session() -> Session {
    Session {
        id: SessionId("bench".into()),
        identity: Identity::new("agent-1", IdentityKind::Agent),
        protocol: Protocol::Postgres,
        target: TargetInfo { name: "db".into(), sensitive_tables: vec!["customers".into()], ..TargetInfo::default() },
        client_addr: None,
        started_at: 0,
    }
}

fn cel_decision(c: &mut Criterion) {
    let policy = CelPolicy::new(defaults::agent_rules(), Then::Allow).expect("default rules compile");
    let session = agent_session();
    // An ordinary read: no rule matches, so every rule is evaluated (the slowest path).
    let action = Action::sql("db", "SELECT abalance FROM pgbench_accounts WHERE aid = 42");
    c.bench_function("cel_decision", |b| b.iter(|| black_box(policy.evaluate(&session, black_box(&action)))));

    // A user rule the native guards cannot decide (`matches`): the interpreter runs on every
    // SQL action.
    let mut rules = defaults::agent_rules();
    rules.push(hoop_core::policy::Rule::new(
        "no-sleep",
        r#"action.kind == "sql" && action.sql.text.matches("(?i)\\bpg_sleep\\b")"#,
        Then::Deny,
    ));
    let policy = CelPolicy::new(rules, Then::Allow).expect("rules compile");
    c.bench_function("cel_interpreted", |b| b.iter(|| black_box(policy.evaluate(&session, black_box(&action)))));
}

fn statement_check(c: &mut Criterion) {
    // The gateway's defaults (agent rules, default masking, file recordings, budgets), as
    // `hoop-pg` runs; and the same with budgets off, whose difference is what budgets cost a
    // statement in place (`budget_check_ns`): usage read before the rules, the budget rules,
    // the action counted, the result tracked and counted at its end.
    let dir = tempfile::tempdir().expect("temp dir");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let open = |name: &str, extra: &str| {
        let text = format!(
            "data_dir = {:?}\n[targets.db]\nprotocol = \"postgres\"\naddress = \"127.0.0.1:5432\"\n{extra}",
            dir.path().join(name).display().to_string()
        );
        let cfg = hoop_core::config::Config::parse(&text, "bench").expect("config");
        let gate = cfg.build_gate().expect("gate");
        let agent = Identity::new("agent-1", IdentityKind::Agent);
        rt.block_on(gate.open_session(Credential::Verified(&agent), Protocol::Postgres, "db", None, Default::default())).expect("session")
    };
    // Budgets on, set never to hold the millions of reads a run makes (as benches/pg.sh sets them).
    let with = open("with", "[policy.budgets]\ntarget_rows_1h = 1000000000\ntarget_bytes_1h = 100000000000\nmasked_values_1h = 1000000000\n");
    let without = open("without", "[policy.budgets]\nenabled = false\n");
    let mut aid = 0u64;
    // Each iteration appends two records (about 900 bytes) to the session's file: keep the run short.
    let mut g = c.benchmark_group("gate");
    g.sample_size(20).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    for (name, handle) in [("statement_check", &with), ("statement_check_no_budgets", &without)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                aid = aid % 100_000 + 1;
                let action = Action::sql("db", &format!("SELECT abalance FROM pgbench_accounts WHERE aid = {aid}"));
                let checked = handle.check(action).expect("recorded");
                let hoop_core::gate::Checked::Allow { action_id } = checked else { panic!("allowed") };
                handle.result_done(action_id, hoop_core::usage::ResultSoFar { rows: 1, bytes: 40, ..Default::default() });
            })
        });
    }
    g.finish();
}

fn sql_analyze(c: &mut Criterion) {
    // A pgbench statement's shape is analysed once per thread; later texts of the shape are a
    // lookup. The comment makes every text bypass the shape cache (the lexer does not
    // fingerprint comments), so the second figure is a full parse by PostgreSQL's grammar,
    // on the parser thread, walked for kinds, tables and functions.
    let cached = "SELECT abalance FROM pgbench_accounts WHERE aid = 42";
    let _ = hoop_core::action::sql::analyze(cached);
    c.bench_function("sql_analyze_cached", |b| b.iter(|| black_box(hoop_core::action::sql::analyze(black_box(cached)))));
    let uncached = "SELECT abalance FROM pgbench_accounts WHERE aid = 42 -- uncached";
    c.bench_function("sql_analyze_uncached", |b| b.iter(|| black_box(hoop_core::action::sql::analyze(black_box(uncached)))));
}

fn exec_read(c: &mut Criterion) {
    // An SSH exec line read by the shell grammar (on the parser thread) into the action rules
    // see: a trivial command and a typical pipeline.
    c.bench_function("exec_read_true", |b| b.iter(|| black_box(hoop_core::action::Action::exec("h", black_box("true")))));
    let line = "sudo -u app sh -c 'ls -la /srv/data | grep -c csv' && echo done";
    c.bench_function("exec_read_pipeline", |b| b.iter(|| black_box(hoop_core::action::Action::exec("h", black_box(line)))));
}

fn mask_throughput(c: &mut Criterion) {
    let masker = Masker::new(&MaskConfig::default(), None).expect("default masking compiles");
    let text = mixed_text();
    let mut g = c.benchmark_group("mask");
    g.throughput(Throughput::Bytes(MIXED_TEXT_BYTES as u64));
    g.bench_function("mixed_text", |b| b.iter(|| black_box(masker.mask_bytes(black_box(&text)).len())));
    let b64 = base64_text();
    g.bench_function("base64_text", |b| b.iter(|| black_box(masker.mask_bytes(black_box(&b64)).len())));
    g.finish();
}

fn budget_check(c: &mut Criterion) {
    // A statement's budget bookkeeping, as the gate does it: the identity's and the target's
    // windows read before the rules (`usage`), the action counted into both, and its result's
    // rows and bytes counted at its end; among 10,000 other identities' keys.
    use hoop_core::usage::{Counts, UsageBook, UsageStore};
    let book = UsageBook::in_memory();
    let now = 1_800_000_000u64;
    for i in 0..10_000 {
        book.add(&format!("agent-{i}\u{0}db"), &Counts { actions: 1, ..Counts::default() }, now);
    }
    let keys = ["agent-1".to_string(), "agent-1\u{0}db".to_string()];
    let action = Counts { actions: 1, ..Counts::default() };
    let result = Counts { rows: 1, bytes: 40, ..Counts::default() };
    c.bench_function("budget_bookkeeping", |b| {
        b.iter(|| {
            for k in &keys {
                black_box(book.windows(k, now));
            }
            for k in &keys {
                book.add(k, &action, now);
            }
            for k in &keys {
                book.add(k, &result, now);
            }
        })
    });
    // The default budget rules' share of a decision: the same read under the default rules with
    // and without them (decided natively, no interpreter).
    let session = agent_session();
    let action = Action::sql("db", "SELECT abalance FROM pgbench_accounts WHERE aid = 42");
    let mut rules = defaults::agent_rules();
    rules.extend(defaults::agent_budgets(10_000, 64 << 20, 50_000, 16 << 20, 5_000));
    let with = CelPolicy::new(rules, Then::Allow).expect("rules compile");
    c.bench_function("cel_decision_budgets", |b| b.iter(|| black_box(with.evaluate(&session, black_box(&action)))));
}

criterion_group!(benches, cel_decision, statement_check, sql_analyze, exec_read, mask_throughput, budget_check);
criterion_main!(benches);
