"""Python's in-toto reference implementation (in-toto 3.x with
securesystemslib) as an oracle for tests/it/attest.rs: it writes links and DSSE
envelopes we must verify, verifies the links we write, and computes
securesystemslib's canonical JSON. Written for this project."""
import json, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding, PublicFormat, load_pem_public_key)
from securesystemslib.signer import CryptoSigner, SSlibKey
from securesystemslib.formats import encode_canonical
from securesystemslib.dsse import Envelope as DsseEnvelope
from in_toto.models.link import Link
from in_toto.models.metadata import Metablock, Envelope


def link(name, sha):
    return Link(name="py-step", materials={}, products={name: {"sha256": sha}},
                byproducts={}, command=[], environment={})


def key_dict(pem_path):
    k = SSlibKey.from_crypto(load_pem_public_key(open(pem_path, "rb").read()))
    d = k.to_dict()
    d["keyid"] = k.keyid
    return d


mode = sys.argv[1]
if mode == "write-ed25519":
    out, name, sha = sys.argv[2:5]
    priv = Ed25519PrivateKey.generate()
    open(out + "/py.pub", "wb").write(priv.public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    signer = CryptoSigner(priv)
    mb = Metablock(signed=link(name, sha))
    mb.create_signature(signer)
    mb.dump(out + "/py.link")
    env = Envelope.from_signable(link(name, sha))
    env.create_signature(signer)
    open(out + "/py-dsse.json", "w").write(json.dumps(env.to_dict()))
    st = {"_type": "https://in-toto.io/Statement/v1",
          "subject": [{"name": name, "digest": {"sha256": sha}}],
          "predicateType": "https://slsa.dev/verification_summary/v1",
          "predicate": {"verifier": {"id": "py"}, "verificationResult": "PASSED"}}
    env = DsseEnvelope(payload=json.dumps(st).encode(),
                       payload_type="application/vnd.in-toto+json", signatures={})
    env.sign(signer)
    open(out + "/py-statement.json", "w").write(json.dumps(env.to_dict()))
elif mode == "write-gpg":
    out, home, keyid, name, sha = sys.argv[2:7]
    mb = Metablock(signed=link(name, sha))
    mb.sign_gpg(gpg_keyid=keyid, gpg_home=home)
    mb.dump(out + "/py-gpg.link")
elif mode == "verify-ed25519":
    Metablock.load(sys.argv[2]).verify_signature(key_dict(sys.argv[3]))
    print("verified")
elif mode == "verify-gpg":
    from securesystemslib._gpg.functions import export_pubkey
    path, home, keyid = sys.argv[2:5]
    Metablock.load(path).verify_signature(export_pubkey(keyid, homedir=home))
    print("verified")
elif mode == "canonical":
    for line in sys.stdin:
        sys.stdout.write(encode_canonical(json.loads(line)).encode("utf-8").hex() + "\n")
