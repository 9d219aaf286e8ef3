//! The network and the proxy link: virtio-net (PCI, `virtio-drivers`) under smoltcp (DHCPv4, one
//! TCP client socket), and fcc-core's sans-IO [`Session`] over that socket.
//!
//! **Polling, no interrupts.** The kernel has one job and one connection, so a loop polls the
//! NIC and smoltcp and spins with `pause` in between. Interrupts would need an APIC/IOAPIC or
//! MSI-X set-up, device vectors in the IDT and, on SEV-SNP/TDX, the (restricted) interrupt
//! injection path: more code and more host-controlled entry points for no gain here. The cost is
//! a busy vCPU, which a single-purpose TEE can afford.
//!
//! **The link.** Connect to the proxy (fw_cfg `opt/fcc/proxy`); a fresh [`Session`] per
//! connection (it queues `Hello` and the first `Pull`); bytes in → `Session::receive` (which runs
//! `Tee::handle` per action) → bytes out. Any session error, a reset or a close by the proxy
//! prints one `LINK closed: <reason>` line, aborts the connection and reconnects after an
//! exponential backoff (100 ms doubling to 5 s, back to 100 ms after a connection that served at
//! least one action). The `Tee` — the
//! identity — lives for the whole boot. Everything that arrives is host input: frames are
//! bounded by the session's reader, and a bad one ends only the connection.
//!
//! Time for smoltcp comes from the TSC, calibrated against the PIT at boot (`tsc`).

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use fcc_core::Tee;
use fcc_core::attester::Attester;
use fcc_core::session::Session;
use fcc_core::wire::{FrameReader, GuestMessage, decode_body};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::socket::{dhcpv4, tcp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};
use virtio_drivers::device::net::{VirtIONet, VirtioNetHdr};
use virtio_drivers::transport::pci::PciTransport;

use crate::config::ProxyAddr;
use crate::dma::FccHal;
use crate::stop::fatal;
use crate::{pci, println, tsc};

/// Virtqueue size (RX buffers posted at once).
const QUEUE_SIZE: usize = 16;
/// Bytes of each RX buffer: an Ethernet frame (1514) plus the virtio-net header, rounded up.
const RX_BUFFER_LEN: usize = 2048;
/// Largest Ethernet frame sent or accepted, without FCS.
const MTU: usize = 1514;
/// Bytes of each TCP socket buffer.
const TCP_BUFFER: usize = 64 * 1024;
/// Reconnect backoff: from this, doubling...
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// ...up to this.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A connection attempt that is not established by then is abandoned.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// TCP keep-alive: a proxy that vanished without a FIN or RST is noticed.
const KEEP_ALIVE: Duration = Duration::from_secs(10);
/// The TCP socket gives up on a peer that acknowledges nothing for this long.
const TCP_TIMEOUT: Duration = Duration::from_secs(30);
/// Ephemeral local ports: a new one per connection.
const LOCAL_PORT_FIRST: u16 = 49152;
const LOCAL_PORTS: u16 = 16384;
/// `pause` instructions between two polls.
const SPINS_PER_POLL: u32 = 64;

/// smoltcp's clock: microseconds since boot from the TSC.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: u64,
    hz: u64,
}

impl Clock {
    /// A clock from `base` (a TSC value) ticking at `hz`.
    pub fn new(base: u64, hz: u64) -> Self {
        Self { base, hz }
    }

    fn now(&self) -> Instant {
        Instant::from_micros(tsc::micros(tsc::now().wrapping_sub(self.base), self.hz) as i64)
    }
}

type Net = VirtIONet<FccHal, PciTransport, QUEUE_SIZE>;

/// smoltcp's view of the NIC.
struct Nic(Net);

/// A received frame, copied out of the driver's buffer (which goes straight back to the device).
struct RxToken(Vec<u8>);

/// Room to send one frame.
struct TxToken<'a>(&'a mut Net);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buffer = self.0.new_tx_buffer(len);
        let result = f(buffer.packet_mut());
        // `send` waits until the device has used the buffer (the queue never fills).
        if let Err(e) = self.0.send(buffer) {
            fatal(format_args!("virtio-net send: {e}"));
        }
        result
    }
}

impl phy::Device for Nic {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken, TxToken<'_>)> {
        let buffer = match self.0.receive() {
            Ok(buffer) => buffer,
            Err(virtio_drivers::Error::NotReady) => return None,
            // Only the VMM can cause these (the device broke the virtqueue protocol).
            Err(e) => fatal(format_args!("virtio-net receive: {e}")),
        };
        // The length is the device's word: check it before the driver slices the buffer with it.
        let capacity = buffer.as_bytes().len().saturating_sub(core::mem::size_of::<VirtioNetHdr>());
        if buffer.packet_len() > capacity {
            fatal(format_args!(
                "virtio-net: the device reported a {}-byte frame in a {capacity}-byte buffer",
                buffer.packet_len()
            ));
        }
        let frame = buffer.packet().to_vec();
        if let Err(e) = self.0.recycle_rx_buffer(buffer) {
            fatal(format_args!("virtio-net: RX buffer not recycled: {e}"));
        }
        Some((RxToken(frame), TxToken(&mut self.0)))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        self.0.can_send().then_some(TxToken(&mut self.0))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MTU;
        caps.max_burst_size = Some(1);
        caps
    }
}

/// Feeds received bytes to the session; prints one `HANDLED` line per action handled. The time
/// is the TSC around `Session::receive`: decoding the frame plus `Tee::handle` for each action
/// (split evenly when one frame carried several, `batch=<k>`) plus, for an instruction whose
/// data streamed in, every earlier call that took a chunk of it (`streamed`: ticks carried from
/// call to call, reset with the session).
fn feed(
    session: &mut Session,
    bytes: &[u8],
    tee: &mut Tee,
    attester: &mut dyn Attester,
    clock: &Clock,
    streamed: &mut u64,
) -> Result<(), fcc_core::Error> {
    let out_before = session.output().len();
    let handled_before = session.handled;
    let streaming_before = session.streaming();
    let start = tsc::now();
    let result = session.receive(bytes, tee, attester);
    let ticks = tsc::now().wrapping_sub(start);
    let batch = session.handled - handled_before;
    if batch == 0 {
        if streaming_before || session.streaming() {
            *streamed = streamed.saturating_add(ticks);
        }
        return result;
    }
    let ticks = ticks.saturating_add(core::mem::take(streamed));
    if let Some(us) = tsc::micros(ticks, clock.hz).checked_div(batch) {
        // The frames just queued are our own: decoding them cannot fail, but stay quiet if it did.
        let mut reader = FrameReader::new();
        if reader.push(&session.output()[out_before..]).is_ok() {
            while let Ok(Some(body)) = reader.next_body() {
                if let Ok(GuestMessage::Result(r)) = decode_body::<GuestMessage>(&body) {
                    let r = &r.result;
                    println!(
                        "HANDLED op={}/{} status={} us={us} batch={batch}",
                        fcc_core::op::text(&r.op_type),
                        fcc_core::op::text(&r.op_command),
                        r.status
                    );
                }
            }
        }
    }
    result
}

/// The connection to the proxy.
struct Link {
    proxy: ProxyAddr,
    session: Option<Session>,
    connected: bool,
    since: Instant,
    retry_at: Instant,
    backoff: Duration,
    next_port: u16,
    /// TSC ticks spent so far on the chunks of the instruction streaming in (see [`feed`]).
    streamed: u64,
}

impl Link {
    fn close(&mut self, socket: &mut tcp::Socket<'_>, reason: &str, now: Instant) {
        println!("LINK closed: {reason}");
        socket.abort();
        // A connection that served at least one action was a working one: start over with the
        // shortest delay. One that failed before (refused, garbage) keeps doubling it.
        if self.session.take().is_some_and(|s| s.handled > 0) {
            self.backoff = BACKOFF_MIN;
        }
        self.connected = false;
        self.retry_at = now + self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    fn connect(&mut self, iface: &mut Interface, socket: &mut tcp::Socket<'_>, now: Instant) {
        let port = LOCAL_PORT_FIRST + self.next_port % LOCAL_PORTS;
        self.next_port = self.next_port.wrapping_add(1);
        let [a, b, c, d] = self.proxy.ip;
        let remote = (IpAddress::v4(a, b, c, d), self.proxy.port);
        if let Err(e) = socket.connect(iface.context(), remote, port) {
            self.close(socket, &format!("connect: {e}"), now);
            return;
        }
        // The greeting (and its attestation) waits for the proxy's challenge.
        self.session = Some(Session::start());
        self.streamed = 0;
        self.since = now;
    }

    /// One step: connect when due, move bytes both ways, notice the end of the connection.
    fn step(
        &mut self,
        iface: &mut Interface,
        socket: &mut tcp::Socket<'_>,
        tee: &mut Tee,
        attester: &mut dyn Attester,
        clock: &Clock,
    ) {
        let now = clock.now();
        let Some(session) = self.session.as_mut() else {
            if now >= self.retry_at {
                self.connect(iface, socket, now);
            }
            return;
        };
        if !self.connected {
            match socket.state() {
                // CloseWait: accepted and already closed by the proxy; its bytes are still read.
                tcp::State::Established | tcp::State::CloseWait => {
                    self.connected = true;
                    println!("LINK connected {}", self.proxy);
                }
                tcp::State::SynSent | tcp::State::SynReceived if now - self.since < CONNECT_TIMEOUT => return,
                tcp::State::SynSent | tcp::State::SynReceived => {
                    return self.close(socket, "connect timed out", now);
                }
                _ => return self.close(socket, "connection refused", now),
            }
        }

        // Bytes in: as many as the session may buffer, through `Session::receive`.
        let mut failure: Option<String> = None;
        while failure.is_none() && socket.can_recv() && session.room() > 0 {
            let room = session.room();
            match socket.recv(|buf| {
                let n = buf.len().min(room);
                (n, feed(session, &buf[..n], tee, attester, clock, &mut self.streamed))
            }) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failure = Some(format!("{e}")),
                Err(e) => failure = Some(format!("receive: {e}")),
            }
        }
        if let Some(reason) = failure {
            return self.close(socket, &reason, now);
        }

        // Bytes out.
        while !session.output().is_empty() && socket.can_send() {
            match socket.send_slice(session.output()) {
                Ok(0) => break,
                Ok(n) => {
                    if let Err(e) = session.consume(n) {
                        return self.close(socket, &format!("{e}"), now);
                    }
                }
                Err(e) => return self.close(socket, &format!("send: {e}"), now),
            }
        }

        // The end of the connection.
        match socket.state() {
            tcp::State::Established => {}
            tcp::State::CloseWait if !socket.can_recv() => self.close(socket, "the proxy closed the connection", now),
            tcp::State::CloseWait => {}
            tcp::State::Closed => self.close(socket, "connection reset or timed out", now),
            other => self.close(socket, &format!("connection in state {other}"), now),
        }
    }
}

/// Brings the network up and serves the proxy for ever, with `attester`'s evidence. `bars`
/// says where the NIC's BARs go and `expose` makes them reachable (`pci::Expose`); `seed`
/// feeds smoltcp's randomness (initial sequence numbers, ports). Needs the DMA region
/// ([`crate::dma::init`]). Returns only if there is no virtio-net device.
pub fn run(
    tee: &mut Tee,
    attester: &mut dyn Attester,
    proxy: ProxyAddr,
    (bars, expose): (pci::Bars, pci::Expose),
    clock: Clock,
    seed: u64,
) {
    let found = pci::find_virtio_net(bars, expose).unwrap_or_else(|e| fatal(format_args!("PCI: {e}")));
    let Some(mut found) = found else {
        println!("NET none: no virtio-net device on PCI bus 0, nothing to serve");
        return;
    };
    let transport = PciTransport::new::<FccHal, _>(&mut found.root, found.function)
        .unwrap_or_else(|e| fatal(format_args!("virtio-net transport: {e}")));
    let net = Net::new(transport, RX_BUFFER_LEN).unwrap_or_else(|e| fatal(format_args!("virtio-net: {e}")));
    let mac = EthernetAddress(net.mac_address());
    let mut nic = Nic(net);
    println!("NET virtio-net mac={mac} proxy={proxy}");

    let mut config = Config::new(HardwareAddress::Ethernet(mac));
    config.random_seed = seed;
    let mut iface = Interface::new(config, &mut nic, clock.now());
    let mut sockets = SocketSet::new(Vec::new());
    let dhcp: SocketHandle = sockets.add(dhcpv4::Socket::new());
    let mut socket =
        tcp::Socket::new(tcp::SocketBuffer::new(vec![0u8; TCP_BUFFER]), tcp::SocketBuffer::new(vec![0u8; TCP_BUFFER]));
    socket.set_keep_alive(Some(KEEP_ALIVE));
    socket.set_timeout(Some(TCP_TIMEOUT));
    socket.set_nagle_enabled(false);
    // Every segment acknowledged at once: with smoltcp's default 10 ms ACK delay, QEMU's user
    // network sent the guest one segment per delay (extension data streamed at 0.14 MB/s).
    socket.set_ack_delay(None);
    let tcp: SocketHandle = sockets.add(socket);

    let mut link = Link {
        proxy,
        session: None,
        connected: false,
        since: Instant::ZERO,
        retry_at: Instant::ZERO,
        backoff: BACKOFF_MIN,
        next_port: (seed >> 32) as u16,
        streamed: 0,
    };
    let mut addressed = false;
    loop {
        iface.poll(clock.now(), &mut nic, &mut sockets);
        match sockets.get_mut::<dhcpv4::Socket>(dhcp).poll() {
            None => {}
            Some(dhcpv4::Event::Configured(lease)) => {
                let address = lease.address;
                iface.update_ip_addrs(|addrs| {
                    addrs.clear();
                    // One address: the vector has room for it.
                    let _ = addrs.push(IpCidr::Ipv4(address));
                });
                match lease.router {
                    Some(router) => {
                        let _ = iface.routes_mut().add_default_ipv4_route(router);
                        println!("DHCP {} prefix={} router={router}", address.address(), address.prefix_len());
                    }
                    None => {
                        iface.routes_mut().remove_default_ipv4_route();
                        println!("DHCP {} prefix={} router=none", address.address(), address.prefix_len());
                    }
                }
                addressed = true;
            }
            // smoltcp also reports this when it (re)starts discovery without an address.
            Some(dhcpv4::Event::Deconfigured) if !addressed => {}
            Some(dhcpv4::Event::Deconfigured) => {
                println!("DHCP lost the address");
                iface.update_ip_addrs(|addrs| addrs.clear());
                iface.routes_mut().remove_default_ipv4_route();
                addressed = false;
                if link.session.is_some() {
                    link.close(sockets.get_mut::<tcp::Socket>(tcp), "address lost", clock.now());
                }
            }
        }
        if addressed {
            link.step(&mut iface, sockets.get_mut::<tcp::Socket>(tcp), tee, attester, &clock);
        }
        for _ in 0..SPINS_PER_POLL {
            core::hint::spin_loop();
        }
    }
}
