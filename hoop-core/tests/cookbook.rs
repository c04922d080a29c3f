//! Every rule in docs/policy-cookbook.md compiles and stops the example under it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use hoop_core::action::{Action, K8s};
use hoop_core::config::Config;
use hoop_core::identity::{Identity, IdentityKind};
use hoop_core::policy::Policy;
use hoop_core::session::{Protocol, Session, SessionId, TargetInfo};
use hoop_core::verdict::Verdict;

/// The fenced blocks of `lang` in `text`, in order.
fn blocks<'a>(text: &'a str, lang: &str) -> Vec<&'a str> {
    let fence = format!("```{lang}\n");
    text.split(fence.as_str()).skip(1).map(|b| b.split("```").next().unwrap()).collect()
}

#[test]
fn cookbook_rules_stop_their_examples() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/policy-cookbook.md")).unwrap();
    let rules = blocks(&text, "toml");
    let cases = blocks(&text, "json");
    assert_eq!(rules.len(), 15, "fifteen recipes");
    assert_eq!(rules.len(), cases.len(), "each recipe has an example");
    for (rule, case) in rules.iter().zip(&cases) {
        let cfg = Config::parse(&format!("[policy]\ndefault_rules = false\n{rule}"), "cookbook").unwrap_or_else(|e| panic!("{rule}: {e}"));
        let policy = cfg.policy.compile().unwrap();
        let name = cfg.policy.rules[0].name.clone();
        let expect = cfg.policy.rules[0].then;
        let c: serde_json::Value = serde_json::from_str(case).unwrap();
        let kind = if c["who"] == "human" { IdentityKind::Human } else { IdentityKind::Agent };
        let mut identity = Identity::new("someone", kind);
        identity.groups = c["groups"].as_array().map(|g| g.iter().map(|x| x.as_str().unwrap().to_string()).collect()).unwrap_or_default();
        let labels = c["labels"].as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect()).unwrap_or_default();
        let session = Session {
            id: SessionId("cookbook".into()),
            identity,
            protocol: Protocol::Postgres,
            target: TargetInfo { name: "t".into(), sensitive: false, sensitive_tables: vec![], labels, ..TargetInfo::default() },
            client_addr: None,
            started_at: 0,
        };
        let action = if let Some(sql) = c["sql"].as_str() {
            Action::sql("t", sql)
        } else if let Some(cmd) = c["exec"].as_str() {
            Action::exec("t", cmd)
        } else if c["k8s"].is_object() {
            Action::k8s("t", serde_json::from_value::<K8s>(c["k8s"].clone()).unwrap())
        } else {
            let f = &c["file"];
            Action::file_transfer("t", f["path"].as_str().unwrap(), f["direction"].as_str().unwrap(), "read", "sftp")
        };
        // Kinds the Postgres adapter adds from what only it knows (lineage over the catalog).
        let mut action = action;
        for k in c["kinds_added_by_the_gateway"].as_array().into_iter().flatten() {
            action.sql.kinds.push(k.as_str().unwrap().to_string());
        }
        // What the gateway counted: usage windows by table, what a result returned so far.
        for (table, w) in c["usage"]["tables"].as_object().into_iter().flatten() {
            let windows = hoop_core::usage::Windows { d1: hoop_core::usage::Counts { rows: w["rows_1d"].as_u64().unwrap_or(0), ..Default::default() }, ..Default::default() };
            action.usage.tables.push((table.clone(), windows));
        }
        let at = |k: &str| c["usage"]["sensitive"][k].as_u64().unwrap_or(0);
        action.usage.sensitive = hoop_core::usage::Sensitive { columns: [0, at("columns_1h"), 0], tables: [0, at("tables_1h"), 0] };
        for (d, w) in c["usage"]["detectors"].as_object().into_iter().flatten() {
            let windows = hoop_core::usage::Windows { d1: hoop_core::usage::Counts { masked_values: w["masked_values_1d"].as_u64().unwrap_or(0), ..Default::default() }, ..Default::default() };
            action.usage.detectors.push((d.clone(), windows));
        }
        if let Some(r) = c["result"].as_object() {
            let n = |k: &str| r.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
            action.result = hoop_core::usage::ResultSoFar { rows: n("rows"), masked_values: n("masked_values"), ..Default::default() };
        }
        let v = policy.evaluate(&session, &action);
        assert_eq!(v.rule(), Some(name.as_str()), "{name}: {v:?}");
        let matched = matches!((&v, expect), (Verdict::Deny { .. }, hoop_core::policy::Then::Deny) | (Verdict::Review { .. }, hoop_core::policy::Then::Review));
        assert!(matched, "{name}: {v:?}");
        // And ordinary work passes the rule.
        let benign = Action::sql("t", "select id from orders where id = 1");
        assert_ne!(policy.evaluate(&session, &benign).rule(), Some(name.as_str()), "{name} stops ordinary work");
    }
}
