"""Times Python wechatpayv3's signing and verification (`cargo xtask bench --peers`).

Our harness, not the peer's code: it calls wechatpayv3's own public helpers
(`wechatpayv3.utils.rsa_sign`, `wechatpayv3.utils.rsa_verify`) on the inputs
the Rust side wrote (the same key, request message and signed answer), checks
that they agree with ours, and prints mean nanoseconds per call as one JSON line.

    python3 wechatpayv3_peer.py DIR ITERS
"""

import json
import sys
import time
from importlib import metadata


def mean_ns(iters, op):
    for _ in range(max(iters // 10, 1)):
        op()
    start = time.perf_counter_ns()
    for _ in range(iters):
        op()
    return (time.perf_counter_ns() - start) / iters


def main():
    from wechatpayv3 import utils

    directory, iters = sys.argv[1], int(sys.argv[2])
    with open(f"{directory}/inputs.json", encoding="utf-8") as f:
        inputs = json.load(f)
    with open(f"{directory}/merchant_key.pem", encoding="utf-8") as f:
        private_key = utils.load_private_key(f.read())
    with open(f"{directory}/platform_cert.pem", encoding="utf-8") as f:
        public_key = utils.load_certificate(f.read()).public_key()

    message = inputs["request_message"]
    ts, nonce, body, signature = inputs["timestamp"], inputs["nonce"], inputs["body"], inputs["signature"]
    # RSASSA-PKCS1-v1_5 is deterministic: the peer must produce our bytes.
    if utils.rsa_sign(private_key, message) != inputs["request_signature"]:
        sys.exit("wechatpayv3 signed the request message differently from customs")
    if not utils.rsa_verify(ts, nonce, body, signature, public_key):
        sys.exit("wechatpayv3 did not verify the answer customs verifies")

    try:
        import cryptography
        from cryptography.hazmat.backends.openssl.backend import backend

        crypto = f"cryptography {cryptography.__version__}, {backend.openssl_version_text()}"
    except Exception:  # noqa: BLE001 - only a label
        crypto = "cryptography (version unknown)"
    print(
        json.dumps(
            {
                "peer": f"Python wechatpayv3 {metadata.version('wechatpayv3')}",
                "runtime": f"Python {sys.version.split()[0]}, {crypto}",
                "sign_ns": mean_ns(iters, lambda: utils.rsa_sign(private_key, message)),
                "verify_ns": mean_ns(iters * 10, lambda: utils.rsa_verify(ts, nonce, body, signature, public_key)),
            }
        )
    )


if __name__ == "__main__":
    main()
