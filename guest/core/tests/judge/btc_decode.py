#!/usr/bin/env python3
"""An independent decoder of the Bitcoin transactions fcc-core's TEEs sign and the tests
assemble, with python-bitcoinlib (none of the guest's code). Bitcoin Core's interpreter
(libbitcoinconsensus, in the Rust test) judges the signatures; this judges the bytes.

Input (argv[1], JSON): [{"signed": hex, "txid": hex (internal order), "inputs": [{"txid": hex
(internal order), "vout": n, "amount": n}], "outputs": [{"value": n, "script": hex}],
"witness_script": hex, "signatures": n, "sighashes": [hex, ...]}, ...]. For each: the signed
transaction deserializes to exactly these inputs (nSequence 0xfffffffd, empty scriptSig) and
outputs, version 2, lock time 0, serializes back to the same bytes; its txid (witness stripped)
is the given one; every input's witness is [empty, `signatures` DER signatures ending in
SIGHASH_ALL, the witness script]; and python-bitcoinlib's BIP143 hash of every input equals the
given one. Exits non-zero on any failure."""
import json
import sys

from bitcoin.core import CTransaction
from bitcoin.core.script import SIGHASH_ALL, SIGVERSION_WITNESS_V0, CScript, SignatureHash


def judge(case):
    raw = bytes.fromhex(case["signed"])
    tx = CTransaction.deserialize(raw)
    assert tx.serialize() == raw, "re-serializes to other bytes"
    assert tx.nVersion == 2 and tx.nLockTime == 0, (tx.nVersion, tx.nLockTime)
    assert tx.GetTxid() == bytes.fromhex(case["txid"]), "txid"
    assert len(tx.vin) == len(case["inputs"]), len(tx.vin)
    for vin, want in zip(tx.vin, case["inputs"]):
        assert vin.prevout.hash == bytes.fromhex(want["txid"]) and vin.prevout.n == want["vout"], "outpoint"
        assert vin.nSequence == 0xFFFFFFFD and len(vin.scriptSig) == 0, "sequence or scriptSig"
    assert [(o.nValue, bytes(o.scriptPubKey).hex()) for o in tx.vout] == [
        (o["value"], o["script"]) for o in case["outputs"]
    ], "outputs"
    script = bytes.fromhex(case["witness_script"])
    for i, (wit, want) in enumerate(zip(tx.wit.vtxinwit, case["inputs"])):
        stack = list(wit.scriptWitness.stack)
        assert len(stack) == case["signatures"] + 2, f"input {i}: witness of {len(stack)} items"
        assert stack[0] == b"" and stack[-1] == script, f"input {i}: witness frame"
        for sig in stack[1:-1]:
            assert sig[0] == 0x30 and sig[-1] == SIGHASH_ALL, f"input {i}: not DER ‖ SIGHASH_ALL"
        h = SignatureHash(CScript(script), tx, i, SIGHASH_ALL, amount=want["amount"], sigversion=SIGVERSION_WITNESS_V0)
        assert h == bytes.fromhex(case["sighashes"][i]), f"input {i}: BIP143 hash"


def main():
    cases = json.load(open(sys.argv[1]))
    for i, case in enumerate(cases):
        try:
            judge(case)
        except Exception as e:  # noqa: BLE001 - any failure is a refusal
            print(f"transaction {i}: {e!r}")
            sys.exit(1)
    print(f"OK: {len(cases)} transactions")


main()
