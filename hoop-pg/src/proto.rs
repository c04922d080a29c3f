//! Postgres messages hoop reads or writes.
//!
//! Client messages are decoded with a bounds-checked [`Cursor`] (a malformed message is a
//! protocol error for that session, never a panic); messages hoop composes are encoded with
//! pgwire's codecs.

use crate::frame::{Cursor, Frame};
use bytes::{Bytes, BytesMut};
use pgwire::messages::Message;
use pgwire::messages::extendedquery::{Bind, Parse};
use pgwire::messages::response::{ErrorResponse, NoticeResponse};

/// SQLSTATE of a refused statement (insufficient_privilege).
pub const DENIED: &str = "42501";
/// SQLSTATE program_limit_exceeded (a value over a gateway limit).
pub const PROGRAM_LIMIT_EXCEEDED: &str = "54000";
/// SQLSTATE `out_of_memory`.
pub const OUT_OF_MEMORY: &str = "53200";
/// SQLSTATE of a failed login (invalid_password).
pub const BAD_PASSWORD: &str = "28P01";
/// SQLSTATE of a login that is not allowed (invalid_authorization_specification).
pub const NOT_AUTHORIZED: &str = "28000";
/// SQLSTATE of a protocol violation.
pub const PROTOCOL_VIOLATION: &str = "08P01";
/// SQLSTATE of an administrator-initiated shutdown or termination.
pub const ADMIN_SHUTDOWN: &str = "57P01";
/// SQLSTATE of a connection the gateway cannot establish upstream.
pub const CANNOT_CONNECT: &str = "08006";
/// SQLSTATE used when the gateway cannot record: the operation is refused.
pub const SYSTEM_ERROR: &str = "58000";

fn frame_of<M: Message>(tag: u8, m: &M) -> Frame {
    let mut buf = BytesMut::new();
    // Encoding only fails for messages over pgwire's own size limits, which hoop's short
    // messages never reach; an empty body would still be a well-formed frame.
    let _ = m.encode(&mut buf);
    let body = if buf.len() >= 5 { buf.split_off(5).freeze() } else { Bytes::new() };
    Frame { tag, body }
}

/// An `ErrorResponse` with severity, SQLSTATE and message.
pub fn error(severity: &str, code: &str, message: &str) -> Frame {
    let fields = vec![
        (b'S', severity.to_string()),
        (b'V', severity.to_string()),
        (b'C', code.to_string()),
        (b'M', message.to_string()),
    ];
    frame_of(b'E', &ErrorResponse::new(fields))
}

/// A `NoticeResponse`.
pub fn notice(code: &str, message: &str) -> Frame {
    let fields = vec![
        (b'S', "NOTICE".to_string()),
        (b'V', "NOTICE".to_string()),
        (b'C', code.to_string()),
        (b'M', message.to_string()),
    ];
    frame_of(b'N', &NoticeResponse::new(fields))
}

/// A frame with a raw body.
pub fn raw(tag: u8, body: &[u8]) -> Frame {
    Frame { tag, body: Bytes::copy_from_slice(body) }
}

/// `AuthenticationRequest` with `code` and `data`.
pub fn auth(code: i32, data: &[u8]) -> Frame {
    let mut b = code.to_be_bytes().to_vec();
    b.extend_from_slice(data);
    Frame { tag: b'R', body: b.into() }
}

/// `BackendKeyData`.
pub fn backend_key_data(pid: i32, key: i32) -> Frame {
    let mut b = pid.to_be_bytes().to_vec();
    b.extend_from_slice(&key.to_be_bytes());
    Frame { tag: b'K', body: b.into() }
}

/// `NegotiateProtocolVersion`: we speak 3.0 and none of the `_pq_` options.
pub fn negotiate_protocol_version(unsupported: &[String]) -> Frame {
    let mut b = 0i32.to_be_bytes().to_vec();
    b.extend_from_slice(&(unsupported.len() as i32).to_be_bytes());
    for o in unsupported {
        b.extend_from_slice(o.as_bytes());
        b.push(0);
    }
    Frame { tag: b'v', body: b.into() }
}

/// A simple `Query`.
pub fn query(text: &str) -> Frame {
    let mut b = text.as_bytes().to_vec();
    b.push(0);
    Frame { tag: b'Q', body: b.into() }
}

/// A `Parse`.
pub fn parse(name: &str, text: &str, types: &[u32]) -> Frame {
    let name = (!name.is_empty()).then(|| name.to_string());
    frame_of(b'P', &Parse::new(name, text.to_string(), types.to_vec()))
}

/// A `Bind`.
pub fn bind(b: &BindMsg) -> Frame {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    frame_of(
        b'B',
        &Bind::new(
            opt(&b.portal),
            opt(&b.statement),
            b.param_formats.clone(),
            b.params.clone(),
            b.result_formats.clone(),
        ),
    )
}

/// A `Close` of a statement.
pub fn close_statement(name: &str) -> Frame {
    let mut b = vec![b'S'];
    b.extend_from_slice(name.as_bytes());
    b.push(0);
    Frame { tag: b'C', body: b.into() }
}

/// A decoded `Parse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseMsg {
    /// Statement name (empty: unnamed).
    pub name: String,
    /// SQL text.
    pub query: String,
    /// Parameter type OIDs.
    pub types: Vec<u32>,
}

/// A decoded `Bind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMsg {
    /// Portal name (empty: unnamed).
    pub portal: String,
    /// Statement name.
    pub statement: String,
    /// Parameter format codes (0 text, 1 binary; one code applies to all).
    pub param_formats: Vec<i16>,
    /// Parameter values.
    pub params: Vec<Option<Bytes>>,
    /// Result column format codes.
    pub result_formats: Vec<i16>,
}

impl BindMsg {
    /// The format of parameter `i`.
    pub fn param_format(&self, i: usize) -> i16 {
        format_at(&self.param_formats, i)
    }
}

/// The format code for column/parameter `i` given a Bind's codes (none: text; one: all).
pub fn format_at(codes: &[i16], i: usize) -> i16 {
    match codes.len() {
        0 => 0,
        1 => codes.first().copied().unwrap_or(0),
        _ => codes.get(i).copied().unwrap_or(0),
    }
}

/// An `Execute` of portal `name`, all rows.
pub fn execute(name: &str) -> Frame {
    let mut b = name.as_bytes().to_vec();
    b.push(0);
    b.extend_from_slice(&0i32.to_be_bytes());
    Frame { tag: b'E', body: b.into() }
}

/// A `Describe` of portal `name`.
pub fn describe_portal(name: &str) -> Frame {
    let mut b = vec![b'P'];
    b.extend_from_slice(name.as_bytes());
    b.push(0);
    Frame { tag: b'D', body: b.into() }
}

/// The command tag of a `CommandComplete` body, its NUL dropped.
pub fn command_tag(body: &[u8]) -> String {
    String::from_utf8_lossy(body.strip_suffix(&[0]).unwrap_or(body)).into_owned()
}

/// Decodes a `Query` body.
pub fn decode_query(body: &[u8]) -> Option<String> {
    Cursor::new(body).cstr_utf8()
}

/// Decodes a `Parse` body.
pub fn decode_parse(body: &[u8]) -> Option<ParseMsg> {
    let mut c = Cursor::new(body);
    let name = c.cstr()?;
    let query = c.cstr_utf8()?;
    let n = c.i16()?;
    let mut types = Vec::with_capacity(n.max(0) as usize);
    for _ in 0..n {
        types.push(c.i32()? as u32);
    }
    Some(ParseMsg { name, query, types })
}

/// A decoded `FunctionCall` (`F`) message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionCallMsg {
    /// The function's OID.
    pub oid: u32,
    /// Argument format codes (0 text, 1 binary).
    pub arg_formats: Vec<i16>,
    /// Arguments; `None` for NULL.
    pub args: Vec<Option<Vec<u8>>>,
    /// The result's format code.
    pub result_format: i16,
}

/// Decodes a `FunctionCall` body.
pub fn decode_function_call(body: &[u8]) -> Option<FunctionCallMsg> {
    let mut c = Cursor::new(body);
    let oid = c.i32()? as u32;
    let nf = c.i16()?;
    let mut arg_formats = Vec::with_capacity(nf.clamp(0, 64) as usize);
    for _ in 0..nf {
        arg_formats.push(c.i16()?);
    }
    let na = c.i16()?;
    let mut args = Vec::with_capacity(na.clamp(0, 64) as usize);
    for _ in 0..na {
        let len = c.i32()?;
        if len < 0 {
            args.push(None);
        } else {
            args.push(Some(c.take(len as usize)?.to_vec()));
        }
    }
    let result_format = c.i16()?;
    Some(FunctionCallMsg { oid, arg_formats, args, result_format })
}

/// Decodes a `Bind` body.
pub fn decode_bind(body: &[u8]) -> Option<BindMsg> {
    let mut c = Cursor::new(body);
    let portal = c.cstr()?;
    let statement = c.cstr()?;
    let nf = c.i16()?;
    let mut param_formats = Vec::with_capacity(nf.max(0) as usize);
    for _ in 0..nf {
        param_formats.push(c.i16()?);
    }
    let np = c.i16()?;
    let mut params = Vec::with_capacity(np.max(0) as usize);
    for _ in 0..np {
        let len = c.i32()?;
        if len < 0 {
            params.push(None);
        } else {
            params.push(Some(Bytes::copy_from_slice(c.take(len as usize)?)));
        }
    }
    let nr = c.i16()?;
    let mut result_formats = Vec::with_capacity(nr.max(0) as usize);
    for _ in 0..nr {
        result_formats.push(c.i16()?);
    }
    Some(BindMsg { portal, statement, param_formats, params, result_formats })
}

/// Decodes `Describe`/`Close`: the kind byte (`S` or `P`) and the name.
pub fn decode_target(body: &[u8]) -> Option<(u8, String)> {
    let mut c = Cursor::new(body);
    Some((c.u8()?, c.cstr()?))
}

/// Decodes an `Execute`: portal and row limit.
pub fn decode_execute(body: &[u8]) -> Option<(String, i32)> {
    let mut c = Cursor::new(body);
    Some((c.cstr()?, c.i32()?))
}

/// The fields of an `ErrorResponse`/`NoticeResponse` body.
pub fn decode_fields(body: &[u8]) -> Option<Vec<(u8, String)>> {
    let mut c = Cursor::new(body);
    let mut out = Vec::new();
    loop {
        let t = c.u8()?;
        if t == 0 {
            return Some(out);
        }
        out.push((t, c.cstr()?));
    }
}

/// Encodes `ErrorResponse`/`NoticeResponse` fields.
pub fn encode_fields(tag: u8, fields: &[(u8, String)]) -> Frame {
    let mut b = Vec::new();
    for (t, v) in fields {
        b.push(*t);
        b.extend_from_slice(v.as_bytes());
        b.push(0);
    }
    b.push(0);
    Frame { tag, body: b.into() }
}

/// One column of a `RowDescription`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Column label.
    pub name: String,
    /// Table OID (0 if not a plain column).
    pub table_oid: u32,
    /// Column number in that table.
    pub column: i16,
    /// Type OID.
    pub type_oid: u32,
    /// Format code (0 text, 1 binary; 0 also for "unknown yet" in statement descriptions).
    pub format: i16,
    /// Type modifier (`varchar(n)` and `char(n)`: n + 4; -1 for none).
    pub modifier: i32,
}

/// Decodes a `RowDescription` body.
pub fn decode_row_description(body: &[u8]) -> Option<Vec<Field>> {
    let mut c = Cursor::new(body);
    let n = c.i16()?;
    let mut out = Vec::with_capacity(n.max(0) as usize);
    for _ in 0..n {
        let name = c.cstr()?;
        let table_oid = c.i32()? as u32;
        let column = c.i16()?;
        let type_oid = c.i32()? as u32;
        let _size = c.i16()?;
        let modifier = c.i32()?;
        let format = c.i16()?;
        out.push(Field { name, table_oid, column, type_oid, format, modifier });
    }
    Some(out)
}

/// Decodes a `ParameterDescription` body into type OIDs.
pub fn decode_parameter_description(body: &[u8]) -> Option<Vec<u32>> {
    let mut c = Cursor::new(body);
    let n = c.i16()?;
    (0..n).map(|_| c.i32().map(|t| t as u32)).collect()
}

/// Splits a `DataRow` body into its cells (`None` for NULL).
pub fn decode_data_row(body: &[u8]) -> Option<Vec<Option<&[u8]>>> {
    let mut c = Cursor::new(body);
    let n = c.i16()?;
    let mut out = Vec::with_capacity(n.max(0) as usize);
    for _ in 0..n {
        let len = c.i32()?;
        out.push(if len < 0 { None } else { Some(c.take(len as usize)?) });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let b = BindMsg {
            portal: "p".into(),
            statement: "s".into(),
            param_formats: vec![0],
            params: vec![Some(Bytes::from_static(b"42")), None],
            result_formats: vec![1],
        };
        assert_eq!(decode_bind(&bind(&b).body), Some(b));
        let p = ParseMsg { name: "s1".into(), query: "select $1".into(), types: vec![23] };
        assert_eq!(decode_parse(&parse("s1", "select $1", &[23]).body), Some(p));
        let e = error("ERROR", DENIED, "no");
        let f = decode_fields(&e.body).unwrap();
        assert!(f.contains(&(b'C', DENIED.into())));
        assert_eq!(decode_bind(b"p\0s\0\x00\x05"), None, "truncated counts are refused, not a panic");
        let row = [&2i16.to_be_bytes()[..], &1i32.to_be_bytes(), b"a", &(-1i32).to_be_bytes()].concat();
        assert_eq!(decode_data_row(&row), Some(vec![Some(&b"a"[..]), None]));
    }
}
