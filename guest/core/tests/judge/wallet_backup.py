#!/usr/bin/env python3
"""An independent judge of a wallet backup made by fcc-core (Flare's PMW backup format), written
from Flare's definitions with Python `cryptography` (ECDH on secp256k1, NIST concatenation KDF,
AES-CTR, ECDSA) and pycryptodome's keccak — none of the guest's code.

Input (argv[1], JSON): {"response": <TEEBackupResponse JSON text>, "chainId": n,
"teePublicKey": hex x‖y, "providers": [hex secret, …] (policy order), "admins": [hex secret, …],
"weights": [policy weight, …]}. Checks every signature, decrypts every split with its owner's
key, rebuilds both parts by Lagrange interpolation (shares out of order, exactly the threshold)
and requires the sum to be the backed-up key; one share fewer must not give it. Prints OK."""
import hmac
import json
import random
import sys
from hashlib import sha256

from Crypto.Hash import keccak
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
CURVE = ec.SECP256K1()


def k256(b):
    h = keccak.new(digest_bits=256)
    h.update(b)
    return h.digest()


def name32(s):
    return s.encode().ljust(32, b"\0")


def payload(prefix, chain_id, data_hash):
    return k256(name32(prefix) + chain_id.to_bytes(32, "big") + data_hash)


def eip191(h):
    return k256(b"\x19Ethereum Signed Message:\n32" + h)


def public_key(xy):
    return ec.EllipticCurvePublicKey.from_encoded_point(CURVE, b"\x04" + xy)


def verify(xy, digest, sig):
    assert len(sig) == 65 and sig[64] in (0, 1), "65-byte signature, v in {0, 1}"
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big")
    assert s <= N // 2, "low S"
    der = utils.encode_dss_signature(r, s)
    public_key(xy).verify(der, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


def ecies_decrypt(secret, ct):
    """go-ethereum crypto/ecies, secp256k1, AES-128-CTR + HMAC-SHA256, no shared infos."""
    assert ct[0] == 4 and len(ct) >= 65 + 16 + 32
    eph = public_key(ct[1:65])
    z = ec.derive_private_key(secret, CURVE).exchange(ec.ECDH(), eph)
    k = ConcatKDFHash(algorithm=hashes.SHA256(), length=32, otherinfo=None).derive(z)
    ke, km = k[:16], sha256(k[16:]).digest()
    body, tag = ct[65:-32], ct[-32:]
    assert hmac.compare_digest(hmac.new(km, body, sha256).digest(), tag), "ECIES tag"
    iv, c = body[:16], body[16:]
    d = Cipher(algorithms.AES(ke), modes.CTR(iv)).decryptor()
    return d.update(c) + d.finalize()


def go_json(obj):
    # Go's json.Marshal for these values: no spaces, keys in the order given, ASCII only.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True).encode()


def unhex(s):
    assert s.startswith("0x") and s == s.lower(), "lower-case 0x hex"
    return bytes.fromhex(s[2:])


def normalize(weights, total=1000):
    s = sum(weights)
    out = []
    for w in weights:
        if s == 0:
            out.append(0)
            continue
        n = w * total // s
        s -= w
        total -= n
        out.append(n)
    return out


def lagrange0(shares):
    xs = [x for x, _ in shares]
    assert len(set(xs)) == len(xs)
    acc = 0
    for i, (xi, yi) in enumerate(shares):
        num, den = 1, 1
        for j, xj in enumerate(xs):
            if j != i:
                num = num * xj % N
                den = den * (xj - xi) % N
        acc = (acc + yi * num * pow(den, -1, N)) % N
    return acc


def point_of(secret):
    pub = ec.derive_private_key(secret, CURVE).public_key()
    return pub.public_numbers().x.to_bytes(32, "big") + pub.public_numbers().y.to_bytes(32, "big")


def main():
    case = json.load(open(sys.argv[1]))
    chain = case["chainId"]
    response = json.loads(case["response"])
    raw = __import__("base64").b64decode(response["walletBackup"], validate=True)
    backup = json.loads(raw)
    assert go_json(backup) == raw, "the backup JSON is Go's canonical form"
    id_keys = ["teeId", "walletId", "keyId", "publicKey", "keyType", "signingAlgo", "rewardEpochId", "randomNonce"]
    assert list(response["backupId"]) == id_keys
    assert all(response["backupId"][k] == backup[k] for k in id_keys)
    assert list(backup)[: len(id_keys)] == id_keys
    wallet_xy = unhex(backup["publicKey"])
    assert backup["FieldID"] == "0x" + name32("secp256k1-group-order").hex()
    assert backup["ProvidersThreshold"] == 666

    content = {k: v for k, v in backup.items() if k not in ("Signature", "TEESignature")}
    content_hash = k256(go_json(content))
    verify(wallet_xy, k256(payload("PMW_WALLET_BACKUP", chain, content_hash)), unhex(backup["Signature"]))
    verify(bytes.fromhex(case["teePublicKey"]), eip191(payload("TEE_WALLET_BACKUP", chain, content_hash)),
           unhex(backup["TEESignature"]))

    def open_part(part, secrets, is_admin):
        shares, x_next = [], 1
        for i, (split, secret) in enumerate(zip(part["Splits"], secrets)):
            owner = point_of(int(secret, 16))
            assert part["OwnersPublicKeys"][i] == {"x": "0x" + owner[:32].hex(), "y": "0x" + owner[32:].hex()}
            plain = ecies_decrypt(int(secret, 16), unhex(split))
            ks = json.loads(plain)
            assert go_json(ks) == plain, "the split JSON is Go's canonical form"
            assert ks["IsAdmin"] is is_admin and all(ks[k] == backup[k] for k in id_keys)
            sig = __import__("base64").b64decode(ks.pop("Signature"), validate=True)
            verify(wallet_xy, k256(payload("PMW_KEY_SPLIT", chain, k256(go_json(ks)))), sig)
            assert len(ks["Shares"]) == part["Weights"][i]
            for sh in ks["Shares"]:
                y = __import__("base64").b64decode(sh["Y"], validate=True)
                assert len(y) == 32 and sh["X"] == x_next
                x_next += 1
                shares.append((sh["X"], int.from_bytes(y, "big")))
        return shares

    admins = open_part(backup["AdminEncryptedParts"], case["admins"], True)
    providers = open_part(backup["ProviderEncryptedParts"], case["providers"], False)
    assert backup["ProviderEncryptedParts"]["Weights"] == normalize(case["weights"])
    assert sum(backup["ProviderEncryptedParts"]["Weights"]) == len(providers) == 1000
    rng = random.Random(7)
    at = backup["AdminsThreshold"]
    admin_part = lagrange0(rng.sample(admins, at))
    provider_part = lagrange0(rng.sample(providers, 666))
    assert point_of((admin_part + provider_part) % N) == wallet_xy, "the shares rebuild the wallet key"
    short = lagrange0(rng.sample(providers, 665))
    assert (admin_part + short) % N == 0 or point_of((admin_part + short) % N) != wallet_xy
    print(f"OK: {len(admins)} admin and {len(providers)} provider shares, signatures and the key check")


if __name__ == "__main__":
    main()
