//! A write's JSON body read as kube-apiserver reads it, or refused.
//!
//! serde_json keeps the last of two fields with one name, while the API server's decoder
//! (Go's `encoding/json` semantics) decodes the second into the first: nested objects merge.
//! `{"spec": {"volumes": [secret]}, "spec": {"containers": [...]}}` is, to hoop, a pod without
//! volumes and, to the server, a pod mounting the Secret. kube-apiserver's own strict field
//! validation refuses a field named twice; hoop refuses it for every client, so the object it
//! checks and shows is the object the server stores.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// A JSON document in which no object names a field twice.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Strict, E> {
        Ok(Strict(Value::from(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Strict, E> {
        Ok(Strict(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Strict(Value::Array(out)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!("the field `{}` is named twice in one object", key.escape_debug())));
            }
            out.insert(key, v);
        }
        Ok(Strict(Value::Object(out)))
    }
}

/// How a body fails to be one JSON document the server reads as hoop does.
#[derive(Debug, PartialEq, Eq)]
pub enum Unread {
    /// Not JSON at all (YAML, protobuf, or malformed): callers decide what that means.
    NotJson,
    /// JSON that names a field twice in one object; the message says which.
    Duplicate(String),
}

/// `body` as a JSON document, refusing one that names a field twice in any object.
pub fn document(body: &[u8]) -> Result<Value, Unread> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = Strict::deserialize(&mut de).and_then(|Strict(v)| de.end().map(|()| v));
    match parsed {
        Ok(v) => Ok(v),
        // Only a duplicate is worth telling apart: every other failure is "not JSON", as
        // serde_json's own reading would have said.
        Err(e) if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() => Err(Unread::Duplicate(e.to_string())),
        Err(_) => Err(Unread::NotJson),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_named_twice_is_refused_at_any_depth() {
        assert!(matches!(document(br#"{"kind":"Pod","kind":"Secret"}"#), Err(Unread::Duplicate(m)) if m.contains("`kind`")));
        let nested = br#"{"spec":{"volumes":[{"name":"s","secret":{"secretName":"a","secretName":"b"}}]}}"#;
        assert!(matches!(document(nested), Err(Unread::Duplicate(_))));
        // Escapes name the same field: `\u0073pec` is `spec`.
        assert!(matches!(document(br#"{"spec":{},"\u0073pec":{}}"#), Err(Unread::Duplicate(_))));
    }

    #[test]
    fn ordinary_documents_read_as_serde_json_reads_them() {
        let body = br#"{"kind":"Pod","metadata":{"name":"a","labels":{"x":"1"}},"spec":{"containers":[{"name":"c","image":"i"}]},"n":-1,"f":1.5,"z":null}"#;
        assert_eq!(document(body).unwrap(), serde_json::from_slice::<Value>(body).unwrap());
        // Names that differ only in case are two fields (the server's decoder is case-sensitive).
        assert!(document(br#"{"spec":{},"Spec":{}}"#).is_ok());
        assert_eq!(document(b"kind: Pod"), Err(Unread::NotJson));
        assert_eq!(document(b"{} {}"), Err(Unread::NotJson));
    }
}
