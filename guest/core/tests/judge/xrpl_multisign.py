#!/usr/bin/env python3
"""An independent judge of XRPL multisigned transactions made by fcc-core, with xrpl-py (the
XRPL Foundation's library; none of the guest's code).

Input (argv[1], JSON): {"transactions": [{"blob": hex, "account": r-address, "sequence": n,
"fee": "drops", "expected": {field: value, ...}, "signers": n}, ...], "xaddresses": [{"classic":
r-address, "tag": n | null}, ...], "joined": [{"answers": [TEE answer, ...], "signer_list":
[{"account": r-address, "weight": n}, ...], "quorum": n, "expected": [{field: value}, ...],
"blobs": [hex, ...]}, ...]} ("joined" optional). For each transaction: xrpl-py decodes the blob to the
expected fields and re-encodes it to the same bytes; SigningPubKey is empty; the Signers are
sorted by AccountID, strictly; each signer's key derives its Account, its signature is strict
DER with a low S and verifies over xrpl-py's own multisigning encoding. Prints, last, the JSON
{"xaddresses": [...]} of the main-network X-addresses asked for; exits non-zero on any failure.

A "joined" case is what a submitter does with the F_XRP answers of several TEEs (each a JSON
array, one transaction per fee tier, with that TEE's signers only): for each tier, every answer
names the same transaction; their Signers joined and sorted form a multisigned transaction that
xrpl-py encodes to exactly the given blob, whose every signer verifies, is on the account's
signer list, and whose weights reach the quorum."""
import json
import sys

from xrpl.core import addresscodec, binarycodec, keypairs

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def strict_der_s(sig):
    """S of a strict DER secp256k1 signature (BIP 66 shape), or an exception."""
    assert sig[0] == 0x30 and sig[1] == len(sig) - 2, "DER sequence"
    assert sig[2] == 0x02, "DER integer r"
    lr = sig[3]
    r = sig[4:4 + lr]
    assert sig[4 + lr] == 0x02, "DER integer s"
    ls = sig[5 + lr]
    s = sig[6 + lr:6 + lr + ls]
    assert 6 + lr + ls == len(sig), "DER length"
    for v in (r, s):
        assert v and v[0] < 0x80 and not (len(v) > 1 and v[0] == 0 and v[1] < 0x80), "minimal positive integer"
    return int.from_bytes(s, "big")


def judge(case):
    blob = case["blob"]
    tx = binarycodec.decode(blob)
    assert binarycodec.encode(tx) == blob.upper(), "xrpl-py re-encodes other bytes"
    assert tx["Account"] == case["account"], tx["Account"]
    assert tx["Sequence"] == case["sequence"], tx["Sequence"]
    assert tx["Fee"] == case["fee"], tx["Fee"]
    assert tx["SigningPubKey"] == "", "SigningPubKey must be empty in a multisigned transaction"
    for field, value in case["expected"].items():
        if value is None:
            assert field not in tx, f"{field} present"
        else:
            assert tx[field] == value, f"{field}: {tx.get(field)} != {value}"
    signers = [s["Signer"] for s in tx["Signers"]]
    assert len(signers) == case["signers"], len(signers)
    ids = [addresscodec.decode_classic_address(s["Account"]) for s in signers]
    assert all(a < b for a, b in zip(ids, ids[1:])), "signers not strictly sorted by AccountID"
    unsigned = {k: v for k, v in tx.items() if k != "Signers"}
    for s in signers:
        assert keypairs.derive_classic_address(s["SigningPubKey"]) == s["Account"], "key is not the signer's"
        sig = bytes.fromhex(s["TxnSignature"])
        assert strict_der_s(sig) <= N // 2, "high S"
        message = bytes.fromhex(binarycodec.encode_for_multisigning(unsigned, s["Account"]))
        assert keypairs.is_valid_message(message, sig, s["SigningPubKey"]), f"bad signature of {s['Account']}"


def join(case):
    answers = case["answers"]
    tiers = len(case["expected"])
    assert all(len(a) == tiers for a in answers), "an answer without every tier"
    weights = {s["account"]: s["weight"] for s in case["signer_list"]}
    for i in range(tiers):
        bare = [{k: v for k, v in a[i].items() if k != "Signers"} for a in answers]
        assert all(b == bare[0] for b in bare), f"tier {i}: the TEEs signed different transactions"
        tx = dict(bare[0])
        for field, value in case["expected"][i].items():
            assert tx.get(field) == value, f"tier {i} {field}: {tx.get(field)} != {value}"
        signers = [s for a in answers for s in a[i]["Signers"]]
        signers.sort(key=lambda s: addresscodec.decode_classic_address(s["Signer"]["Account"]))
        tx["Signers"] = signers
        blob = binarycodec.encode(tx)
        assert blob == case["blobs"][i].upper(), f"tier {i}: xrpl-py joins other bytes"
        n = len(signers)
        judge({"blob": blob, "account": tx["Account"], "sequence": tx["Sequence"], "fee": tx["Fee"],
               "expected": {}, "signers": n})
        listed = [s["Signer"]["Account"] for s in signers]
        assert all(a in weights for a in listed), f"tier {i}: a signer not on the signer list"
        assert sum(weights[a] for a in listed) >= case["quorum"], f"tier {i}: quorum not met"


def main():
    case = json.load(open(sys.argv[1]))
    for i, tx in enumerate(case["transactions"]):
        try:
            judge(tx)
        except Exception as e:  # noqa: BLE001 - any failure is a refusal
            print(f"transaction {i}: {e!r}")
            sys.exit(1)
    for i, joined in enumerate(case.get("joined", [])):
        try:
            join(joined)
        except Exception as e:  # noqa: BLE001 - any failure is a refusal
            print(f"joined {i}: {e!r}")
            sys.exit(1)
    xaddresses = [addresscodec.classic_address_to_xaddress(x["classic"], x["tag"], False) for x in case["xaddresses"]]
    print(f"OK: {len(case['transactions'])} multisigned transactions, {len(case.get('joined', []))} joined")
    print(json.dumps({"xaddresses": xaddresses}))


main()
