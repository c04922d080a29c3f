//! What CEL sees: sessions, identities, targets and actions as CEL maps.
//!
//! Built by hand rather than through serde because this runs on every decision: keys are
//! interned once, and the sections an action does not use are one shared empty map each.
//! A test keeps the shape identical to the serde form, which is what the docs describe.

use crate::action::{Action, Blank, Connect, Env, Exec, FileTransfer, Forward, K8s, Sql};
use crate::identity::Identity;
use crate::session::{Session, TargetInfo};
use cel_interpreter::Value;
use cel_interpreter::objects::{Key, Map};
use std::collections::{BTreeMap, HashMap};

use std::sync::{Arc, OnceLock};

macro_rules! keys {
    ($($name:ident),* $(,)?) => {
        /// Interned map keys, so building a value allocates no key strings.
        #[allow(non_snake_case)]
        struct Keys { $($name: Key),* }

        fn keys() -> &'static Keys {
            static K: OnceLock<Keys> = OnceLock::new();
            K.get_or_init(|| Keys { $($name: Key::String(Arc::new(stringify!($name).to_string()))),* })
        }
    };
}

keys!(
    kind, target, connect, sql, exec, file_transfer, forward, k8s, client_addr, params, text, kinds, tables,
    has_where, parsed, copy, copy_program, functions, command, argv, path, direction, operation, protocol, host, port, verb,
    group, version, resource, namespace, name, subresource, object_kind, subject, groups, issuer, targets, token_id,
    commands, programs, paths, writes, scripts, shown, plants, key_files, env_files, unreadable, interpreter, pipes_to_interpreter, unlisted, reshapes, links, set_id, keeps_modes, copies, env, value, deletes, session_deletes,
    window_secs, identity, rows, bytes, masked_values, seconds, actions_1m, actions_1h, actions_1d, rows_1m, rows_1h,
    rows_1d, bytes_1m, bytes_1h, bytes_1d, masked_values_1m, masked_values_1h, masked_values_1d, deletes_1m, deletes_1h,
    deletes_1d, recorded_bytes_1m, recorded_bytes_1h, recorded_bytes_1d, columns, detectors, columns_1m, columns_1h, columns_1d, tables_1m, tables_1h, tables_1d,
    expires_at, sensitive, sensitive_tables, labels, id, started_at, streams_masked, runs, patch_ops, secret_refs,
);

fn map<const N: usize>(entries: [(&Key, Value); N]) -> Value {
    let mut m = HashMap::with_capacity(N);
    for (k, v) in entries {
        m.insert(k.clone(), v);
    }
    Value::Map(Map { map: Arc::new(m) })
}

fn s(v: &str) -> Value {
    Value::String(Arc::new(v.to_string()))
}

fn list(v: &[String]) -> Value {
    Value::List(Arc::new(v.iter().map(|x| s(x)).collect()))
}

fn string_map(m: &BTreeMap<String, String>) -> Value {
    let mut out = HashMap::with_capacity(m.len());
    for (a, b) in m {
        out.insert(Key::String(Arc::new(a.clone())), s(b));
    }
    Value::Map(Map { map: Arc::new(out) })
}

fn connect(c: &Connect) -> Value {
    let k = keys();
    map([(&k.client_addr, s(&c.client_addr)), (&k.params, string_map(&c.params))])
}

fn sql(q: &Sql) -> Value {
    let k = keys();
    map([
        (&k.text, s(&q.text)),
        (&k.kinds, list(&q.kinds)),
        (&k.tables, list(&q.tables)),
        (&k.functions, list(&q.functions)),
        (&k.has_where, Value::Bool(q.has_where)),
        (&k.parsed, Value::Bool(q.parsed)),
        (&k.copy, s(&q.copy)),
        (&k.copy_program, Value::Bool(q.copy_program)),
        (&k.runs, list(&q.runs)),
        (
            &k.params,
            Value::List(Arc::new(q.params.iter().map(|p| p.as_deref().map_or(Value::Null, s)).collect())),
        ),
    ])
}

fn exec(e: &Exec) -> Value {
    let k = keys();
    map([
        (&k.command, s(&e.command)),
        (&k.argv, list(&e.argv)),
        (&k.commands, Value::List(Arc::new(e.commands.iter().map(|c| list(c)).collect()))),
        (&k.programs, list(&e.programs)),
        (&k.paths, list(&e.paths)),
        (&k.writes, list(&e.writes)),
        (&k.unreadable, s(&e.unreadable)),
        (&k.interpreter, s(&e.interpreter)),
        (&k.pipes_to_interpreter, Value::Bool(e.pipes_to_interpreter)),
        (&k.unlisted, list(&e.unlisted)),
        (&k.reshapes, list(&e.reshapes)),
        (&k.links, list(&e.links)),
        (&k.set_id, list(&e.set_id)),
        (&k.keeps_modes, list(&e.keeps_modes)),
        (&k.copies, list(&e.copies)),
        (&k.scripts, list(&e.scripts)),
        (&k.shown, list(&e.shown)),
        (&k.plants, list(&e.plants)),
        (&k.key_files, list(&e.key_files)),
        (&k.env_files, list(&e.env_files)),
    ])
}

fn file_transfer(f: &FileTransfer) -> Value {
    let k = keys();
    map([
        (&k.path, s(&f.path)),
        (&k.direction, s(&f.direction)),
        (&k.operation, s(&f.operation)),
        (&k.protocol, s(&f.protocol)),
        (&k.plants, Value::Bool(f.plants)),
    ])
}

fn forward(f: &Forward) -> Value {
    let k = keys();
    map([(&k.host, s(&f.host)), (&k.port, Value::UInt(u64::from(f.port))), (&k.direction, s(&f.direction))])
}

fn k8s(r: &K8s) -> Value {
    let k = keys();
    map([
        (&k.verb, s(&r.verb)),
        (&k.group, s(&r.group)),
        (&k.version, s(&r.version)),
        (&k.resource, s(&r.resource)),
        (&k.namespace, s(&r.namespace)),
        (&k.name, s(&r.name)),
        (&k.subresource, s(&r.subresource)),
        (&k.object_kind, s(&r.object_kind)),
        (&k.patch_ops, list(&r.patch_ops)),
        (&k.secret_refs, list(&r.secret_refs)),
        (&k.path, s(&r.path)),
    ])
}

fn env(v: &Env) -> Value {
    let k = keys();
    map([(&k.name, s(&v.name)), (&k.value, s(&v.value))])
}

fn int(v: u64) -> Value {
    Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

/// What the caller did lately, as CEL sees it (`usage`).
pub(crate) fn usage(u: &crate::usage::Usage) -> Value {
    let k = keys();
    map([
        (&k.deletes, int(u.deletes)),
        (&k.session_deletes, int(u.session_deletes)),
        (&k.window_secs, int(crate::usage::WINDOW.as_secs())),
        (&k.identity, windows(&u.identity)),
        (&k.target, windows(&u.target)),
        (&k.tables, named(&u.tables)),
        (&k.columns, named(&u.columns)),
        (&k.detectors, named(&u.detectors)),
        (&k.sensitive, {
            let (c, t) = (&u.sensitive.columns, &u.sensitive.tables);
            let at = |v: &[u64; 3], i: usize| int(v.get(i).copied().unwrap_or(0));
            map([
                (&k.columns_1m, at(c, 0)),
                (&k.columns_1h, at(c, 1)),
                (&k.columns_1d, at(c, 2)),
                (&k.tables_1m, at(t, 0)),
                (&k.tables_1h, at(t, 1)),
                (&k.tables_1d, at(t, 2)),
            ])
        }),
    ])
}

/// Named scopes (tables, columns, detectors) with their windows, as a CEL map by name.
fn named(scopes: &[(String, crate::usage::Windows)]) -> Value {
    let m: HashMap<Key, Value> = scopes.iter().map(|(t, w)| (Key::String(Arc::new(t.clone())), windows(w))).collect();
    Value::Map(Map { map: Arc::new(m) })
}

/// One scope's sliding windows: `rows_1h`, `masked_values_1d`, ...
fn windows(w: &crate::usage::Windows) -> Value {
    let k = keys();
    map([
        (&k.actions_1m, int(w.m1.actions)),
        (&k.actions_1h, int(w.h1.actions)),
        (&k.actions_1d, int(w.d1.actions)),
        (&k.rows_1m, int(w.m1.rows)),
        (&k.rows_1h, int(w.h1.rows)),
        (&k.rows_1d, int(w.d1.rows)),
        (&k.bytes_1m, int(w.m1.bytes)),
        (&k.bytes_1h, int(w.h1.bytes)),
        (&k.bytes_1d, int(w.d1.bytes)),
        (&k.masked_values_1m, int(w.m1.masked_values)),
        (&k.masked_values_1h, int(w.h1.masked_values)),
        (&k.masked_values_1d, int(w.d1.masked_values)),
        (&k.deletes_1m, int(w.m1.deletes)),
        (&k.deletes_1h, int(w.h1.deletes)),
        (&k.deletes_1d, int(w.d1.deletes)),
        (&k.recorded_bytes_1m, int(w.m1.recorded)),
        (&k.recorded_bytes_1h, int(w.h1.recorded)),
        (&k.recorded_bytes_1d, int(w.d1.recorded)),
    ])
}

/// What a result returned so far, as CEL sees it at a checkpoint (`result`).
pub(crate) fn result(r: &crate::usage::ResultSoFar) -> Value {
    let k = keys();
    map([
        (&k.rows, int(r.rows)),
        (&k.bytes, int(r.bytes)),
        (&k.masked_values, int(r.masked_values)),
        (&k.seconds, int(r.seconds)),
        (&k.streams_masked, Value::Bool(r.streams_masked)),
    ])
}

/// One shared value per empty section.
struct Empty {
    connect: Value,
    sql: Value,
    exec: Value,
    file_transfer: Value,
    forward: Value,
    k8s: Value,
    env: Value,
}

fn empty() -> &'static Empty {
    static E: OnceLock<Empty> = OnceLock::new();
    E.get_or_init(|| Empty {
        connect: connect(&Connect::default()),
        sql: sql(&Sql::default()),
        exec: exec(&Exec::default()),
        file_transfer: file_transfer(&FileTransfer::default()),
        forward: forward(&Forward::default()),
        k8s: k8s(&K8s::default()),
        env: env(&Env::default()),
    })
}

/// The action as CEL sees it (same shape as its serde form).
pub(crate) fn action(a: &Action) -> Value {
    let e = empty();
    let k = keys();
    // A section that differs from its default is built; the others are the shared empty map.
    let sec = |used: bool, build: &dyn Fn() -> Value, empty: &Value| if used { build() } else { empty.clone() };
    map([
        (&k.kind, s(a.kind.as_str())),
        (&k.target, s(&a.target)),
        (&k.connect, sec(!a.connect.is_blank(), &|| connect(&a.connect), &e.connect)),
        (&k.sql, sec(!a.sql.is_blank(), &|| sql(&a.sql), &e.sql)),
        (&k.exec, sec(!a.exec.is_blank(), &|| exec(&a.exec), &e.exec)),
        (
            &k.file_transfer,
            sec(!a.file_transfer.is_blank(), &|| file_transfer(&a.file_transfer), &e.file_transfer),
        ),
        (&k.forward, sec(!a.forward.is_blank(), &|| forward(&a.forward), &e.forward)),
        (&k.k8s, sec(!a.k8s.is_blank(), &|| k8s(&a.k8s), &e.k8s)),
        (&k.env, sec(!a.env.is_blank(), &|| env(&a.env), &e.env)),
    ])
}

/// The identity as CEL sees it.
pub(crate) fn identity(i: &Identity) -> Value {
    let k = keys();
    map([
        (&k.subject, s(&i.subject)),
        (&k.groups, list(&i.groups)),
        (&k.issuer, s(&i.issuer)),
        (&k.kind, s(i.kind.as_str())),
        (&k.targets, list(&i.targets)),
        (&k.token_id, s(&i.token_id)),
        (&k.expires_at, Value::Int(i.expires_at)),
    ])
}

/// The target as CEL sees it.
pub(crate) fn target(t: &TargetInfo) -> Value {
    let k = keys();
    map([
        (&k.name, s(&t.name)),
        (&k.sensitive, Value::Bool(t.sensitive)),
        (&k.sensitive_tables, list(&t.sensitive_tables)),
        (&k.labels, string_map(&t.labels)),
    ])
}

/// The session as CEL sees it: id, protocol, target name, client IP, start.
pub(crate) fn session(x: &Session) -> Value {
    let k = keys();
    map([
        (&k.id, s(&x.id.0)),
        (&k.protocol, s(x.protocol.as_str())),
        (&k.target, s(&x.target.name)),
        (&k.client_addr, s(&x.client_addr.map(|a| a.ip().to_string()).unwrap_or_default())),
        (&k.started_at, Value::Int(x.started_at)),
    ])
}

/// `session`, `identity` and `target` for `x`, reused while the same session keeps deciding
/// on this thread (they never change within a session, and rebuilding them is most of the
/// cost of a decision).
pub(crate) fn session_values(x: &Session) -> [Value; 3] {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(Session, [Value; 3])>> = const { std::cell::RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((s, v)) = last.as_ref()
            && s == x {
                return v.clone();
            }
        let v = [session(x), identity(&x.identity), target(&x.target)];
        *last = Some((x.clone(), v.clone()));
        v
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::ActionKind;
    use crate::identity::IdentityKind;

    trait Erased {
        fn cel(&self) -> Value;
    }
    impl<T: serde::Serialize> Erased for T {
        fn cel(&self) -> Value {
            cel_interpreter::to_value(self).unwrap()
        }
    }

    #[test]
    fn same_shape_as_serde() {
        // Stored actions omit empty sections; CEL always sees all of them.
        let to = |v: &dyn Erased| v.cel();
        for kind in ActionKind::ALL {
            let mut a = Action::sample(kind);
            // Records leave these out at their defaults; set, serde shows every field.
            a.sql.copy = "to".into();
            a.sql.copy_program = true;
            a.sql.params = vec![Some("1".into()), None];
            a.sql.runs = vec!["prepare p as select 1".into()];
            let mut full = HashMap::new();
            full.insert(Key::from("kind".to_string()), cel_interpreter::to_value(a.kind).unwrap());
            full.insert(Key::from("target".to_string()), cel_interpreter::to_value(&a.target).unwrap());
            full.insert(Key::from("connect".to_string()), to(&a.connect));
            full.insert(Key::from("sql".to_string()), to(&a.sql));
            full.insert(Key::from("exec".to_string()), to(&a.exec));
            full.insert(Key::from("file_transfer".to_string()), to(&a.file_transfer));
            full.insert(Key::from("forward".to_string()), to(&a.forward));
            full.insert(Key::from("k8s".to_string()), to(&a.k8s));
            full.insert(Key::from("env".to_string()), to(&a.env));
            assert_eq!(action(&a), Value::Map(Map { map: Arc::new(full) }), "{kind:?}");
        }
        let mut i = Identity::new("x", IdentityKind::Human);
        i.groups.push("g".into());
        assert_eq!(identity(&i), cel_interpreter::to_value(&i).unwrap());
        let mut t = TargetInfo { name: "db".into(), sensitive_tables: vec!["a".into()], ..TargetInfo::default() };
        t.labels.insert("env".into(), "prod".into());
        assert_eq!(target(&t), cel_interpreter::to_value(&t).unwrap());
    }
}
