//! Core micro-benchmarks: one CEL decision under the default rules, and masking throughput.
#![allow(clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hoop_benches::{MIXED_TEXT_BYTES, mixed_text};
use hoop_core::action::Action;
use hoop_core::identity::{Identity, IdentityKind};
use hoop_core::mask::{MaskConfig, Masker};
use hoop_core::policy::{CelPolicy, Policy, Then, defaults};
use hoop_core::session::{Protocol, Session, SessionId, TargetInfo};
use std::hint::black_box;

fn cel_decision(c: &mut Criterion) {
    let policy = CelPolicy::new(defaults::agent_rules(), Then::Allow).expect("default rules compile");
    let session = Session {
        id: SessionId("bench".into()),
        identity: Identity::new("agent-1", IdentityKind::Agent),
        protocol: Protocol::Postgres,
        target: TargetInfo { name: "db".into(), sensitive_tables: vec!["customers".into()], ..TargetInfo::default() },
        client_addr: None,
        started_at: 0,
    };
    // An ordinary read: no rule matches, so every rule is evaluated (the slowest path).
    let action = Action::sql("db", "SELECT abalance FROM pgbench_accounts WHERE aid = 42");
    c.bench_function("cel_decision", |b| b.iter(|| black_box(policy.evaluate(&session, black_box(&action)))));
}

fn mask_throughput(c: &mut Criterion) {
    let masker = Masker::new(&MaskConfig::default(), None).expect("default masking compiles");
    let text = mixed_text();
    let mut g = c.benchmark_group("mask");
    g.throughput(Throughput::Bytes(MIXED_TEXT_BYTES as u64));
    g.bench_function("mixed_text", |b| b.iter(|| black_box(masker.mask_bytes(black_box(&text)).len())));
    g.finish();
}

criterion_group!(benches, cel_decision, mask_throughput);
criterion_main!(benches);
