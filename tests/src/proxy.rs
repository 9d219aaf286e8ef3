//! A test proxy: a plain `std` TCP listener on 127.0.0.1 that speaks fcc-core's link frames
//! (`fcc_core::wire`) to the guest, which reaches it through QEMU user networking at
//! 10.0.2.2:<port>. It plays the host proxy's part of the conversation — read `Hello` and `Pull`,
//! answer a pull with `Actions`, ack results — and can misbehave on purpose.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use fcc_core::action::Action;
use fcc_core::attester::PlatformKind;
use fcc_core::limits::MAX_FRAME_LEN;
use fcc_core::result::SignedResult;
use fcc_core::wire::{GuestMessage, Hello, LENGTH_PREFIX, ProxyMessage, decode_body, encode_frame, link_digest};
use fcc_layout::interface::LINK_CONNECTED_PREFIX;
use fcc_qemu::Guest;

use crate::flare::CHAIN_ID;

/// The listening side.
#[derive(Debug)]
pub struct TestProxy {
    listener: TcpListener,
    /// The port on 127.0.0.1 (the guest's `opt/fcc/proxy` is 10.0.2.2:<port>).
    pub port: u16,
}

impl TestProxy {
    /// Listens on an ephemeral port of 127.0.0.1.
    pub fn bind() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the test proxy")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        Ok(Self { listener, port })
    }

    /// [`TestProxy::accept`], then checks the `Hello` names `tee` on the plain platform and the
    /// test chain, and waits (each wait up to `timeout`) for the guest's `LINK connected` line
    /// naming this port.
    pub fn connect(&self, guest: &mut Guest, tee: [u8; 20], timeout: Duration) -> Result<Connection> {
        let conn = self.accept(timeout)?;
        let hello = conn.hello();
        ensure!(
            hello.tee_id == tee,
            "Hello from 0x{} but READY said 0x{}",
            hex::encode(hello.tee_id),
            hex::encode(tee)
        );
        ensure!(hello.platform == PlatformKind::Plain && hello.chain_id == CHAIN_ID, "{hello:?}");
        let (line, _) = guest.wait_for(LINK_CONNECTED_PREFIX, timeout)?;
        ensure!(line.ends_with(&format!(":{}", self.port)), "{line}");
        Ok(conn)
    }

    /// Waits for the guest to connect, challenges it, then reads its `Hello` — whose link
    /// signature must recover (with libsecp256k1) to its TEE id for this challenge — and first
    /// `Pull`.
    pub fn accept(&self, timeout: Duration) -> Result<Connection> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match self.listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        bail!("the guest did not connect to the test proxy within {timeout:?}");
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(e).context("accept"),
            }
        };
        stream.set_nonblocking(false)?;
        stream.set_nodelay(true)?;
        let mut conn = Connection { stream, timeout, hello: None, sealed: None };
        let nonce: [u8; 32] = rand::random();
        conn.send(&ProxyMessage::Challenge { nonce })?;
        let hello = match conn.read()? {
            GuestMessage::Hello(h) => h,
            other => bail!("the guest's first message is not Hello: {other:?}"),
        };
        let digest = link_digest(&nonce, &hello).map_err(|e| anyhow::anyhow!("link digest: {e}"))?;
        let signer = fcc_flare_json::recover_signer(&hello.link_signature, &digest)?;
        ensure!(signer == hello.tee_id, "the Hello is signed by 0x{}, not its TEE", hex::encode(signer));
        conn.hello = Some(hello);
        conn.expect_pull()?;
        Ok(conn)
    }
}

/// One connection from the guest.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    timeout: Duration,
    hello: Option<Hello>,
    sealed: Option<Vec<u8>>,
}

impl Connection {
    /// The guest's `Hello` on this connection.
    pub fn hello(&self) -> &Hello {
        self.hello.as_ref().expect("read at accept")
    }

    /// Reads one frame from the guest (bounded, version-checked, validated).
    pub fn read(&mut self) -> Result<GuestMessage> {
        self.stream.set_read_timeout(Some(self.timeout))?;
        let mut prefix = [0u8; LENGTH_PREFIX];
        self.stream.read_exact(&mut prefix).context("reading a frame's length from the guest")?;
        let len = u32::from_be_bytes(prefix) as usize;
        ensure!((1..=MAX_FRAME_LEN).contains(&len), "the guest sent a frame of {len} bytes");
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body).context("reading a frame from the guest")?;
        let msg: GuestMessage = decode_body(&body).map_err(|e| anyhow::anyhow!("guest frame: {e}"))?;
        msg.validate().map_err(|e| anyhow::anyhow!("guest frame: {e}"))?;
        Ok(msg)
    }

    /// Reads a `Pull`.
    pub fn expect_pull(&mut self) -> Result<()> {
        match self.read()? {
            GuestMessage::Pull { max_actions } if max_actions >= 1 => Ok(()),
            other => bail!("expected Pull, got {other:?}"),
        }
    }

    /// Sends a message.
    pub fn send(&mut self, msg: &ProxyMessage) -> Result<()> {
        let frame = encode_frame(msg).map_err(|e| anyhow::anyhow!("encode: {e}"))?;
        self.send_raw(&frame)
    }

    /// Sends arbitrary bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes).context("writing to the guest")?;
        self.stream.flush()?;
        Ok(())
    }

    /// Reads the next `Result`; a guest that can seal sends the state a batch left before its
    /// results, which is kept ([`Connection::take_sealed`]).
    pub fn read_result(&mut self) -> Result<SignedResult> {
        let mut msg = self.read()?;
        if let GuestMessage::Sealed(blob) = msg {
            self.sealed = Some(blob);
            msg = self.read()?;
        }
        match msg {
            GuestMessage::Result(r) => Ok(r),
            other => bail!("expected a Result, got {other:?}"),
        }
    }

    /// Delivers `action` (answering the outstanding pull), reads its result, acks it and reads
    /// the next pull.
    pub fn run(&mut self, action: &Action) -> Result<SignedResult> {
        self.send(&ProxyMessage::Actions(vec![action.clone()]))?;
        let result = self.read_result()?;
        self.send(&ProxyMessage::Ack { id: result.result.id })?;
        self.expect_pull()?;
        Ok(result)
    }

    /// The sealed state the guest sent last on this connection, if any.
    pub fn take_sealed(&mut self) -> Option<Vec<u8>> {
        self.sealed.take()
    }

    /// Waits until the guest closes the connection (EOF or reset); fails if it sends a frame
    /// instead or does nothing within the timeout.
    pub fn expect_closed(&mut self) -> Result<()> {
        self.stream.set_read_timeout(Some(self.timeout))?;
        let mut buf = [0u8; 4096];
        match self.stream.read(&mut buf) {
            Ok(0) => Ok(()),
            Ok(n) => bail!("the guest sent {n} bytes instead of closing the connection"),
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => Ok(()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                bail!("the guest kept the connection open for {:?}", self.timeout)
            }
            Err(e) => Err(e).context("waiting for the guest to close"),
        }
    }
}
