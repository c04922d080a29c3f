//! JSON values written as block-style YAML, the way kube-apiserver answers
//! `Accept: application/yaml`. Strings are always double-quoted (JSON escapes are valid YAML
//! double-quoted escapes), so no scalar is ever read back as another type.

use serde_json::Value;

/// Appends `v` at `indent` spaces; a top-level or nested collection starts on its own line.
pub(crate) fn emit(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, child) in map {
                out.push_str(&pad);
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                child_value(child, indent, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                child_value(item, indent, out);
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn child_value(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            emit(v, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            emit(v, indent + 2, out);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        // Numbers, booleans, null and double-quoted strings read the same in YAML.
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn block_style() {
        let v = serde_json::json!({"kind": "Secret", "data": {"password": "aHVudGVyMg=="}, "items": [{"a": 1}, "x"], "e": {}});
        let mut out = String::new();
        super::emit(&v, 0, &mut out);
        assert!(out.contains("\"data\":\n  \"password\": \"aHVudGVyMg==\"\n"), "{out}");
        assert!(out.contains("\"items\":\n  -\n    \"a\": 1\n  - \"x\"\n"), "{out}");
    }
}
