"""What verifying the sender of every event costs (kopru.events.ingress.verify_sender),
against a plain `jwt.decode` of the same token with the same key, in the same process.

Cases (µs per call; each repetition times --calls calls of each case in turn,
interleaved so drift hits all alike; medians over --reps):

  platform  HS256 per-function token (Köprü's dispatcher, bus, ticker):
            baseline   jwt.decode(token, key, HS256, audience, issuer), one token
            fresh      verify_sender with a new token each call (cache miss: header
                       peek, decode, claim checks, cache insert)
            cached     verify_sender with one token (a dictionary hit after the first)
  oidc      RS256 Kubernetes service-account token (Knative's sender identity), the
            issuer's JWKS already fetched (it is cached for JWKS_TTL):
            baseline   jwt.decode(token, public key, RS256, audience, issuer)
            fresh      verify_sender with a new token each call
            cached     verify_sender with one token

No I/O: the signing secret is a random KOPRU_EVENT_SIGNING_KEY and the OIDC issuer's
keys are put into the ingress module's cache, so only the verification is timed.

    .venv/bin/python -m bench.ingress --calls 2000 --reps 7
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import sys
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.ingress", description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=2000, help="calls per case and repetition")
    p.add_argument("--reps", type=int, default=7)
    args = p.parse_args(argv)
    if args.calls < 10 or args.reps < 1:
        p.error("--calls >= 10, --reps >= 1")

    issuer_url = "https://kubernetes.default.svc.cluster.local"
    os.environ["KOPRU_EVENT_SIGNING_KEY"] = base64.b64encode(secrets.token_bytes(32)).decode()
    os.environ["KOPRU_OIDC_ISSUERS"] = issuer_url
    os.environ["KOPRU_NAMESPACE"] = "kopru"

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    from bench.common import ratio, summarize, table, write_results
    from kopru.config import reset_settings
    from kopru.events import ingress

    reset_settings()
    ingress.reset_keys()
    ingress.reset_issuers()
    fn = "sms-send"
    key = ingress.function_key(fn)
    aud = ingress.expected_audience(fn)

    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = RSAAlgorithm.to_jwk(priv.public_key(), as_dict=True)
    jwk.update(kid="k1", alg="RS256", use="sig")
    iss = ingress._Issuer(issuer_url, keys=jwt.PyJWKSet.from_dict({"keys": [jwk]}), fetched=1e18,
                          lock=asyncio.Lock())
    ingress._issuers[issuer_url] = iss

    def oidc_token() -> str:
        now = int(time.time())
        return jwt.encode({"iss": issuer_url, "sub": "system:serviceaccount:knative-eventing:x", "aud": [aud],
                           "iat": now, "nbf": now, "exp": now + 3600, "jti": secrets.token_hex(8)},
                          priv, algorithm="RS256", headers={"kid": "k1"})

    n = args.calls
    # tokens made before timing: issuing is the sender's cost, not the function's
    platform_fresh = [[ingress.issue(fn, "dispatcher", 3600) for _ in range(n)] for _ in range(args.reps)]
    oidc_fresh = [[oidc_token() for _ in range(n)] for _ in range(args.reps)]
    platform_one, oidc_one = ingress.issue(fn, "dispatcher", 3600), oidc_token()
    pub = priv.public_key()

    async def verify_all(tokens) -> None:
        for t in tokens:
            await ingress.verify_sender(fn, {"authorization": "Bearer " + t})

    def per_call(f) -> float:
        t0 = time.perf_counter()
        f()
        return (time.perf_counter() - t0) / n * 1e6

    loop = asyncio.new_event_loop()
    cases = {k: [] for k in ("platform_baseline", "platform_fresh", "platform_cached",
                             "oidc_baseline", "oidc_fresh", "oidc_cached")}
    for rep in range(args.reps):
        cases["platform_baseline"].append(per_call(lambda: [jwt.decode(
            platform_one, key, algorithms=["HS256"], audience=fn, issuer=ingress.PLATFORM_ISSUER) for _ in range(n)]))
        cases["platform_fresh"].append(per_call(lambda: loop.run_until_complete(verify_all(platform_fresh[rep]))))
        cases["platform_cached"].append(per_call(lambda: loop.run_until_complete(verify_all([platform_one] * n))))
        cases["oidc_baseline"].append(per_call(lambda: [jwt.decode(
            oidc_one, pub, algorithms=["RS256"], audience=aud, issuer=issuer_url) for _ in range(n)]))
        cases["oidc_fresh"].append(per_call(lambda: loop.run_until_complete(verify_all(oidc_fresh[rep]))))
        cases["oidc_cached"].append(per_call(lambda: loop.run_until_complete(verify_all([oidc_one] * n))))
    loop.close()

    summary = {k: summarize(v) for k, v in cases.items()}
    med = {k: s["median"] for k, s in summary.items()}
    ratios = {
        "platform_fresh_vs_decode": ratio(med["platform_fresh"], med["platform_baseline"]),
        "platform_cached_vs_decode": ratio(med["platform_cached"], med["platform_baseline"]),
        "oidc_fresh_vs_decode": ratio(med["oidc_fresh"], med["oidc_baseline"]),
        "oidc_cached_vs_decode": ratio(med["oidc_cached"], med["oidc_baseline"]),
    }
    rows = [[k, f"{med[k]:.2f}", f"{summary[k]['min']:.2f}", f"{summary[k]['max']:.2f}"] for k in cases]
    print(table(rows, ["case", "median µs/call", "min", "max"]))
    for k, v in ratios.items():
        print(f"{k}: {v:.3f}x")
    path = write_results("ingress", {
        "unit": "microseconds per verification (median over reps of the mean over --calls calls)",
        "setup": "one process; HS256 per-function platform token (HKDF key) and RS256 2048-bit service-account "
                 "token with the issuer's JWKS already cached; tokens issued before timing",
        "cases": summary, "ratios": ratios,
    }, params={"calls": n, "reps": args.reps, "function": fn})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
