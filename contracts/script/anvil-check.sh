#!/usr/bin/env bash
# End to end on a real node: starts anvil (chain id 14), deploys with DeployDevnet and the
# worked-example policy of docs/PROTOCOL.md §2, registers the example TEE (§7) with registration
# data signed by its key (§7.2, the digest computed here with cast and compared with the
# registry's), moves it to
# production with a relay message signed by provider 1 (weight 600 > threshold 500), then has the
# TeeResultVerifier accept the result that fcc-core signed (§6) — bytes from the Rust core,
# checked by the EVM.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=node_modules/.bin

port=${FCC_ANVIL_PORT:-18545}
rpc=http://127.0.0.1:$port
"$bin/anvil" --chain-id 14 --port "$port" --silent &
anvil_pid=$!
trap 'kill "$anvil_pid" 2>/dev/null || true' EXIT
fail() { echo "anvil-check: $*" >&2; exit 1; }
ready=
for _ in $(seq 100); do
    if "$bin/cast" chain-id --rpc-url "$rpc" >/dev/null 2>&1; then ready=1; break; fi
    sleep 0.2
done
[ -n "$ready" ] || fail "anvil did not answer on $rpc"

key=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80 # anvil's first account
policy=0x00020003e80033450001f45eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed7e5f4552091a69125d5dfcb7b8c2659029395bdf02586813eb9362372eef6200f3b1dbc3f819671cba690190
# forge keeps the last run's RPC URL and pending transactions per chain and picks them up again
# (then fails against a node that is gone, and still exits 0): start from a clean slate.
rm -rf broadcast/DeployDevnet.s.sol/14 cache/DeployDevnet.s.sol/14
FCC_POLICY=$policy "$bin/forge" script script/DeployDevnet.s.sol --offline --rpc-url "$rpc" --broadcast \
    --private-key "$key" --silent >/dev/null
# Addresses follow from the deployer's nonces 0..5.
deployer=$("$bin/cast" wallet address --private-key "$key")
addr() { "$bin/cast" compute-address "$deployer" --nonce "$1" | awk '{print $NF}'; }
relay=$(addr 0) extensions=$(addr 1) machines=$(addr 2) verifier=$(addr 3)
[ "$("$bin/cast" code --rpc-url "$rpc" "$verifier")" != 0x ] || fail "deployment failed"
send() { "$bin/cast" send --rpc-url "$rpc" --private-key "$key" "$@" >/dev/null; }

measurement=0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f
code_hash=$("$bin/cast" keccak "$measurement")
plain=$("$bin/cast" format-bytes32-string plain)
send "$extensions" 'createExtension(string)' devnet
send "$extensions" 'addTeeVersion(uint256,string,bytes32,bytes32[])' 1 v1 "$code_hash" "[$plain]"
tee_x=0xc6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5
tee_y=0x1ae168fea63dc339a3c58419466ceaeef7f632653266d0e1236431a950cfe52a
data="(1,$deployer,$code_hash,$plain,($tee_x,$tee_y),0x0000000000000000000000000000000000000000000000000000000000000000)"
data_type='(uint256,address,bytes32,bytes32,(bytes32,bytes32),bytes32)'
data_hash=$("$bin/cast" keccak "$("$bin/cast" abi-encode "f($data_type)" "$data")")
prefix=$("$bin/cast" format-bytes32-string TEE_MACHINE_REGISTER)
payload=$("$bin/cast" keccak "$("$bin/cast" abi-encode 'f(bytes32,uint256,bytes32)' "$prefix" 14 "$data_hash")")
digest=$("$bin/cast" keccak "0x19457468657265756d205369676e6564204d6573736167653a0a3332${payload#0x}")
[ "$("$bin/cast" call --rpc-url "$rpc" "$machines" "machineDataDigest($data_type)(bytes32)" "$data")" = "$digest" ] ||
    fail "the registry's machineDataDigest is not the one computed here"
sig=$("$bin/cast" wallet sign --no-hash --private-key 0x0000000000000000000000000000000000000000000000000000000000000002 "$digest")
r=${sig:2:64} s=${sig:66:64} v=$((16#${sig:130:2}))
send "$machines" "register($data_type,(uint8,bytes32,bytes32),address,string)" "$data" "($v,0x$r,0x$s)" \
    0x000000000000000000000000000000000000009a http://127.0.0.1:9000
tee=0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF
# Production through Flare's relay-message layout (docs/PROTOCOL.md §16): selector, policy, the
# custom message (1, 0, 0, productionHash), one signature (v ‖ r ‖ s ‖ index 0) by provider 1.
hash=$("$bin/cast" call --rpc-url "$rpc" "$machines" 'productionHash(address)(bytes32)' "$tee")
digest=$("$bin/cast" call --rpc-url "$rpc" "$relay" 'customSignatureDigest(bytes32)(bytes32)' "$hash")
sig=$("$bin/cast" wallet sign --no-hash --private-key 0x0000000000000000000000000000000000000000000000000000000000000001 "$digest")
r=${sig:2:64} s=${sig:66:64} v=${sig:130:2}
message=0xb59589d1${policy#0x}010000000000${hash#0x}0001$v$r${s}0000
[ "$("$bin/cast" call --rpc-url "$rpc" "$relay" 'verifyCustomSignature(bytes,bytes32)(uint256)' "$message" "$hash")" = 1000 ] ||
    fail "the relay did not accept the relay message"
send "$machines" 'toProduction(address,bytes)' "$tee" "$message"
[ "$("$bin/cast" call --rpc-url "$rpc" "$machines" 'isProductionTee(uint256,address)(bool)' 1 "$tee")" = true ] ||
    fail "the TEE did not reach production"

# docs/PROTOCOL.md §6: id 0x11…11, tag "threshold", status 1, data 0xdeadbeef, fcc-core's signature (v = 0)
id=0x1111111111111111111111111111111111111111111111111111111111111111
sig=0xaf1d1019a4cfec16f73bc23d63fdae75fbe604a4969ebd3bfe59d1c468f675cd7fc03b3676d946b4a648e42068a54a25901fb6aa07d4875132d521b5975d660100
signer=$("$bin/cast" call --rpc-url "$rpc" "$verifier" \
    'verifyResult(uint256,(bytes32,string,uint8,string,bytes32,bytes32,bytes,string,bytes),bytes)(address)' \
    1 "($id,threshold,1,unsigned-log,0x0000000000000000000000000000000000000000000000000000000000000000,0x0000000000000000000000000000000000000000000000000000000000000000,0x,fcc-core/0.1.0,0xdeadbeef)" "$sig")
[ "$signer" = "$tee" ] || fail "verifyResult returned '$signer', expected $tee"
echo "anvil-check: fcc-core's signed result verified on chain 14 by TeeResultVerifier (signer $signer)"
