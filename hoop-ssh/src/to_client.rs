//! What goes to the client on one channel: its output within the window the client gives.
//!
//! russh queues every message of a connection in one bounded queue, and stops taking from it
//! while any channel holds output beyond its client's window. Output written with the
//! connection's handle regardless of the window therefore froze the whole connection once a
//! client stopped reading one channel: its other channels, new channels, and the gateway's
//! own disconnect of a killed session (red-team SSH round 82: `hoop sessions kill` reported the
//! session killed, and its command ran on). Output here waits for the window of its own channel
//! first, so it never sits in that queue; a relay waiting on it holds back only its own host
//! channel (whose window then closes in turn).

use bytes::Bytes;
use russh::server::{Handle, Msg};
use russh::{ChannelId, ChannelWriteHalf, Sig};

/// One client channel: output within its window, and the rest through the connection.
pub struct ToClient {
    handle: Handle,
    out: ChannelWriteHalf<Msg>,
    /// True once the connection is gone: a write waiting for a window that will never open
    /// then fails, and its relay ends.
    gone: tokio::sync::watch::Receiver<bool>,
}

impl ToClient {
    /// The channel `out` of the connection `handle`, which `gone` says has ended.
    pub fn new(handle: Handle, out: ChannelWriteHalf<Msg>, gone: tokio::sync::watch::Receiver<bool>) -> ToClient {
        ToClient { handle, out, gone }
    }

    /// Output (stdout), once the client's window has room for it; `Err` when the connection
    /// ended first.
    pub async fn data(&self, _id: ChannelId, data: impl Into<Bytes>) -> Result<(), ()> {
        let mut gone = self.gone.clone();
        tokio::select! {
            r = self.out.data_bytes(data) => r.map_err(|_| ()),
            _ = gone.wait_for(|g| *g) => Err(()),
        }
    }

    /// Extended output (`ext` 1: stderr), as [`data`](Self::data).
    pub async fn extended_data(&self, _id: ChannelId, ext: u32, data: impl Into<Bytes>) -> Result<(), ()> {
        let mut gone = self.gone.clone();
        tokio::select! {
            r = self.out.extended_data_bytes(ext, data) => r.map_err(|_| ()),
            _ = gone.wait_for(|g| *g) => Err(()),
        }
    }

    /// End of output.
    pub async fn eof(&self, id: ChannelId) -> Result<(), ()> {
        self.handle.eof(id).await
    }

    /// Closes the channel.
    pub async fn close(&self, id: ChannelId) -> Result<(), ()> {
        self.handle.close(id).await
    }

    /// The command's exit status.
    pub async fn exit_status_request(&self, id: ChannelId, status: u32) -> Result<(), ()> {
        self.handle.exit_status_request(id, status).await
    }

    /// The signal that ended the command.
    pub async fn exit_signal_request(&self, id: ChannelId, signal: Sig, core_dumped: bool, message: String, lang: String) -> Result<(), ()> {
        self.handle.exit_signal_request(id, signal, core_dumped, message, lang).await
    }

    /// Ends the whole connection.
    pub async fn disconnect(&self, reason: russh::Disconnect, description: String, lang: String) -> Result<(), russh::Error> {
        self.handle.disconnect(reason, description, lang).await
    }
}
