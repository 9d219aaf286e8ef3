//! Encrypted guest messages (SEV-SNP Firmware ABI, "SNP_GUEST_REQUEST" and "Guest Messages"):
//! a 0x60-byte header `authtag[32] ‖ u64 msg_seqno ‖ 8 reserved ‖ u8 algo ‖ u8 hdr_version ‖ u16
//! hdr_sz ‖ u8 msg_type ‖ u8 msg_version ‖ u16 msg_sz ‖ u32 reserved ‖ u8 msg_vmpck ‖ 35
//! reserved`, then the payload, AES-256-GCM encrypted under the VM platform communication key
//! (VMPCK) from the secrets page. IV = msg_seqno (little-endian, zero-padded to 12 bytes); AAD =
//! header bytes 0x30..0x60; tag in authtag[0..16].
//!
//! The sequence number is the IV, so reusing one would break GCM. [`Channel`] keeps it: request
//! n + 1, response n + 2, then n + 2 is the last used. Every failure other than "host busy, try
//! the same request again" wipes the key: the guest can then never send under it again, rather
//! than risk a repeated IV or talk on through a host that forges or replays answers.

use fcc_core::aead;
use zeroize::Zeroize;

/// Header bytes.
pub const HEADER_LEN: usize = 0x60;
/// The largest payload a 4 KiB message page holds.
pub const MAX_PAYLOAD: usize = 4096 - HEADER_LEN;
/// Where the AAD starts.
const AAD_FROM: usize = 0x30;
/// AEAD algorithm: AES-256-GCM.
const ALGO_AES_256_GCM: u8 = 1;
const HDR_VERSION: u8 = 1;
const MSG_VERSION: u8 = 1;

/// Message types the guest uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum MsgType {
    /// MSG_KEY_REQ.
    KeyReq = 3,
    /// MSG_KEY_RSP.
    KeyRsp = 4,
    /// MSG_REPORT_REQ.
    ReportReq = 5,
    /// MSG_REPORT_RSP.
    ReportRsp = 6,
}

impl MsgType {
    const fn response(self) -> MsgType {
        match self {
            MsgType::KeyReq | MsgType::KeyRsp => MsgType::KeyRsp,
            MsgType::ReportReq | MsgType::ReportRsp => MsgType::ReportRsp,
        }
    }
}

/// Why a message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgError {
    /// The key was wiped after an earlier failure: no more messages.
    KeyWiped,
    /// Sequence numbers are used up.
    SeqnoExhausted,
    /// The payload does not fit a message page, or the buffer is too small.
    TooLarge,
    /// A header field of the response is not what was asked for (the field's offset).
    Header(usize),
    /// The response's tag does not verify.
    Authentication,
    /// A request is already out: resend its bytes, open its response, or [`Channel::abandon`].
    InFlight,
    /// The firmware's status in the response payload is not success.
    Status(u32),
    /// The response payload is shorter than its fields say.
    Truncated,
}

/// A channel to the PSP under one VMPCK.
pub struct Channel {
    key: Option<[u8; 32]>,
    vmpck_id: u8,
    /// The last sequence number used (0: none yet).
    last_seqno: u64,
    /// The sequence number of the request sent and not yet answered.
    in_flight: Option<u64>,
}

impl core::fmt::Debug for Channel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The key stays out of logs.
        f.debug_struct("Channel")
            .field("vmpck_id", &self.vmpck_id)
            .field("last_seqno", &self.last_seqno)
            .field("wiped", &self.key.is_none())
            .finish()
    }
}

fn iv(seqno: u64) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[..8].copy_from_slice(&seqno.to_le_bytes());
    iv
}

impl Channel {
    /// A channel with `key` (VMPCK `vmpck_id` from the secrets page) whose last used sequence
    /// number is `last_seqno` (0 at boot).
    pub fn new(key: [u8; 32], vmpck_id: u8, last_seqno: u64) -> Self {
        Self { key: Some(key), vmpck_id, last_seqno, in_flight: None }
    }

    /// Whether the key is gone.
    pub fn is_wiped(&self) -> bool {
        self.key.is_none()
    }

    /// Forgets the key (and the caller must wipe the secrets page's copy).
    pub fn wipe(&mut self) {
        self.in_flight = None;
        if let Some(k) = self.key.as_mut() {
            k.zeroize();
        }
        self.key = None;
    }

    /// The sequence number the next request will carry.
    pub fn next_seqno(&self) -> Result<u64, MsgError> {
        // The response uses request + 1, so leave room for it.
        self.last_seqno.checked_add(2).map(|_| self.last_seqno + 1).ok_or(MsgError::SeqnoExhausted)
    }

    /// Encrypts `payload` as a `msg_type` request into `out` (header then ciphertext); returns the
    /// message length and its sequence number. Until its response is opened no other request
    /// can be sealed — a second plaintext under the same sequence number would reuse the IV — so
    /// for a busy host the caller sends the same bytes again.
    pub fn seal(&mut self, msg_type: MsgType, payload: &[u8], out: &mut [u8]) -> Result<(usize, u64), MsgError> {
        let key = self.key.as_ref().ok_or(MsgError::KeyWiped)?;
        if self.in_flight.is_some() {
            return Err(MsgError::InFlight);
        }
        if payload.len() > MAX_PAYLOAD || out.len() < HEADER_LEN + payload.len() {
            return Err(MsgError::TooLarge);
        }
        let seqno = match self.next_seqno() {
            Ok(s) => s,
            Err(e) => {
                self.wipe();
                return Err(e);
            }
        };
        let (header, body) = out.split_at_mut(HEADER_LEN);
        header.fill(0);
        header[0x20..0x28].copy_from_slice(&seqno.to_le_bytes());
        header[0x30] = ALGO_AES_256_GCM;
        header[0x31] = HDR_VERSION;
        header[0x32..0x34].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
        header[0x34] = msg_type as u8;
        header[0x35] = MSG_VERSION;
        header[0x36..0x38].copy_from_slice(&(payload.len() as u16).to_le_bytes());
        header[0x3c] = self.vmpck_id;
        let body = &mut body[..payload.len()];
        body.copy_from_slice(payload);
        let tag = aead::encrypt(key, &iv(seqno), &header[AAD_FROM..], body).map_err(|_| MsgError::TooLarge)?;
        header[..16].copy_from_slice(&tag);
        self.in_flight = Some(seqno);
        Ok((HEADER_LEN + payload.len(), seqno))
    }

    /// Gives up on the request in flight (the host never answered): the sequence number's fate
    /// is unknown, so the key is wiped.
    pub fn abandon(&mut self) {
        self.wipe();
    }

    /// Checks and decrypts the response to the request with `request_seqno` of `request_type`,
    /// in place; returns the plaintext payload. Any failure wipes the key.
    pub fn open<'m>(
        &mut self,
        request_type: MsgType,
        request_seqno: u64,
        msg: &'m mut [u8],
    ) -> Result<&'m [u8], MsgError> {
        let result = self.open_inner(request_type, request_seqno, msg);
        match result {
            Ok(len) => {
                self.last_seqno = request_seqno + 1;
                self.in_flight = None;
                Ok(&msg[HEADER_LEN..HEADER_LEN + len])
            }
            Err(e) => {
                self.wipe();
                Err(e)
            }
        }
    }

    fn open_inner(&self, request_type: MsgType, request_seqno: u64, msg: &mut [u8]) -> Result<usize, MsgError> {
        let key = self.key.as_ref().ok_or(MsgError::KeyWiped)?;
        if self.in_flight != Some(request_seqno) {
            return Err(MsgError::Header(0x20));
        }
        if msg.len() < HEADER_LEN {
            return Err(MsgError::Truncated);
        }
        let (header, body) = msg.split_at_mut(HEADER_LEN);
        let u16_at = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]);
        let checks: [(usize, bool); 7] = [
            (0x20, u64::from_le_bytes(header[0x20..0x28].try_into().expect("8 bytes")) == request_seqno + 1),
            (0x30, header[0x30] == ALGO_AES_256_GCM),
            (0x31, header[0x31] == HDR_VERSION),
            (0x32, usize::from(u16_at(0x32)) == HEADER_LEN),
            (0x34, header[0x34] == request_type.response() as u8),
            (0x35, header[0x35] == MSG_VERSION),
            (0x3c, header[0x3c] == self.vmpck_id),
        ];
        if let Some((at, _)) = checks.iter().find(|(_, ok)| !ok) {
            return Err(MsgError::Header(*at));
        }
        let len = usize::from(u16_at(0x36));
        if len > MAX_PAYLOAD || body.len() < len {
            return Err(MsgError::Truncated);
        }
        let tag: [u8; 16] = header[..16].try_into().expect("16 bytes");
        aead::decrypt(key, &iv(request_seqno + 1), &header[AAD_FROM..], &mut body[..len], &tag)
            .map_err(|_| MsgError::Authentication)?;
        Ok(len)
    }
}

/// MSG_REPORT_REQ: `report_data[64] ‖ u32 vmpl ‖ 28 reserved`.
pub fn report_request(report_data: &[u8; 64], vmpl: u32) -> [u8; 96] {
    let mut p = [0u8; 96];
    p[..64].copy_from_slice(report_data);
    p[64..68].copy_from_slice(&vmpl.to_le_bytes());
    p
}

/// MSG_REPORT_RSP: `u32 status ‖ u32 report_size ‖ 24 reserved ‖ report`; returns the report.
pub fn report_response(payload: &[u8]) -> Result<&[u8], MsgError> {
    if payload.len() < 0x20 {
        return Err(MsgError::Truncated);
    }
    let status = u32::from_le_bytes(payload[0..4].try_into().expect("4 bytes"));
    if status != 0 {
        return Err(MsgError::Status(status));
    }
    let size = u32::from_le_bytes(payload[4..8].try_into().expect("4 bytes")) as usize;
    if size != super::report::REPORT_LEN || payload.len() < 0x20 + size {
        return Err(MsgError::Truncated);
    }
    Ok(&payload[0x20..0x20 + size])
}

/// Which fields of the guest's launch are mixed into a derived key (GUEST_FIELD_SELECT).
pub mod field {
    /// The guest policy.
    pub const POLICY: u64 = 1 << 0;
    /// The image ID.
    pub const IMAGE_ID: u64 = 1 << 1;
    /// The family ID.
    pub const FAMILY_ID: u64 = 1 << 2;
    /// The launch measurement.
    pub const MEASUREMENT: u64 = 1 << 3;
    /// The guest SVN.
    pub const GUEST_SVN: u64 = 1 << 4;
    /// The TCB version.
    pub const TCB_VERSION: u64 = 1 << 5;
}

/// MSG_KEY_REQ: `u32 root_key_select ‖ u32 reserved ‖ u64 guest_field_select ‖ u32 vmpl ‖ u32
/// guest_svn ‖ u64 tcb_version`. Root key 0 is the VCEK (chip-unique).
pub fn key_request(guest_field_select: u64, vmpl: u32, guest_svn: u32, tcb_version: u64) -> [u8; 32] {
    let mut p = [0u8; 32];
    p[8..16].copy_from_slice(&guest_field_select.to_le_bytes());
    p[16..20].copy_from_slice(&vmpl.to_le_bytes());
    p[20..24].copy_from_slice(&guest_svn.to_le_bytes());
    p[24..32].copy_from_slice(&tcb_version.to_le_bytes());
    p
}

/// MSG_KEY_RSP: `u32 status ‖ 28 reserved ‖ derived_key[32]`.
pub fn key_response(payload: &[u8]) -> Result<[u8; 32], MsgError> {
    if payload.len() < 0x40 {
        return Err(MsgError::Truncated);
    }
    let status = u32::from_le_bytes(payload[0..4].try_into().expect("4 bytes"));
    if status != 0 {
        return Err(MsgError::Status(status));
    }
    Ok(payload[0x20..0x40].try_into().expect("32 bytes"))
}
