//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, not part of the API):
//! each takes bytes a peer could send and must never panic.

use crate::frame::FrameReader;
use crate::proto;
use bytes::BytesMut;
use hoop_core::mask::{MaskConfig, Masker};
use std::sync::OnceLock;

fn masker() -> &'static Masker {
    static M: OnceLock<Masker> = OnceLock::new();
    M.get_or_init(|| Masker::new(&MaskConfig::default(), None).unwrap_or_else(|_| Masker::disabled()))
}

/// Every complete frame in `data` (a limit of 1 MiB, as for clients before login).
fn frames(data: &[u8]) -> Vec<crate::frame::Frame> {
    let mut r = FrameReader::with_buffer(tokio::io::empty(), 1 << 20, BytesMut::from(data));
    let mut out = Vec::new();
    while let Ok(Some(f)) = r.try_next() {
        out.push(f);
    }
    out
}

/// Messages from a client: framed, then decoded by type, statements analysed.
pub fn frontend(data: &[u8]) {
    for f in frames(data) {
        match f.tag {
            b'Q' => {
                if let Some(q) = proto::decode_query(&f.body) {
                    let _ = hoop_core::action::sql::analyze(&q);
                }
            }
            b'P' => {
                if let Some(p) = proto::decode_parse(&f.body) {
                    let _ = hoop_core::action::sql::analyze(&p.query);
                }
            }
            b'B' => drop(proto::decode_bind(&f.body)),
            b'F' => drop(proto::decode_function_call(&f.body)),
            b'E' => drop(proto::decode_execute(&f.body)),
            b'C' | b'D' => drop(proto::decode_target(&f.body)),
            _ => {}
        }
    }
}

/// Messages from a server: row descriptions, rows masked, errors and notices masked.
pub fn backend(data: &[u8]) {
    for f in frames(data) {
        match f.tag {
            b'T' => drop(proto::decode_row_description(&f.body)),
            b't' => drop(proto::decode_parameter_description(&f.body)),
            b'D' => {
                let _ = proto::decode_data_row(&f.body);
                let _ = crate::mask::mask_row(masker(), None, &f.body, &mut Default::default());
            }
            b'E' | b'N' => {
                if let Some(mut fields) = proto::decode_fields(&f.body) {
                    crate::mask::mask_fields(masker(), &mut fields);
                }
            }
            _ => {}
        }
    }
}

/// A startup-phase packet body: SSL/GSS/cancel requests and startup parameters.
pub fn startup(data: &[u8]) {
    let _ = crate::front::decode_startup(data);
}
