#!/usr/bin/env python3
"""Known-answer vectors for SEV-SNP guest messages, computed with Python `cryptography`'s AESGCM
(an implementation independent of the Rust `aes-gcm` crate the guest uses), from the layout in the
SEV-SNP Firmware ABI ("Guest Messages"). Writes guest_msg_vectors.txt; tests/guest_msg.rs reads it.
Run: python3 gen_guest_msg.py > guest_msg_vectors.txt"""
import struct
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY = bytes(range(32))  # VMPCK0 for the vectors


def message(seqno, msg_type, payload, vmpck=0):
    hdr = bytearray(0x60)
    struct.pack_into("<Q", hdr, 0x20, seqno)
    hdr[0x30] = 1  # AES-256-GCM
    hdr[0x31] = 1  # header version
    struct.pack_into("<H", hdr, 0x32, 0x60)
    hdr[0x34] = msg_type
    hdr[0x35] = 1  # message version
    struct.pack_into("<H", hdr, 0x36, len(payload))
    hdr[0x3C] = vmpck
    iv = struct.pack("<Q", seqno) + bytes(4)
    out = AESGCM(KEY).encrypt(iv, payload, bytes(hdr[0x30:0x60]))
    ct, tag = out[:-16], out[-16:]
    hdr[0:16] = tag
    return bytes(hdr) + ct


report_req = bytes(range(64)) + struct.pack("<I", 0) + bytes(28)
report = bytes(i % 251 for i in range(0x4A0))
report_rsp = struct.pack("<II", 0, len(report)) + bytes(24) + report
key_req = struct.pack("<IIQIIQ", 0, 0, 0b1001, 0, 0, 0)  # policy + measurement
key_rsp = struct.pack("<I", 0) + bytes(28) + bytes(range(0xA0, 0xC0))
print("key", KEY.hex())
print("report_request_seqno1", message(1, 5, report_req).hex())
print("report_response_seqno2", message(2, 6, report_rsp).hex())
print("key_request_seqno3", message(3, 3, key_req).hex())
print("key_response_seqno4", message(4, 4, key_rsp).hex())
