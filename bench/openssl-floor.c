/* The least a fresh process does to check one RSA-4096-signed tag with
 * OpenSSL 3 the way sequoia's OpenSSL backend does: initialize libcrypto
 * (the flags of src/openpgp/backend.rs), make a library context and load
 * the legacy provider into it, hash with SHA-1 (a v4 fingerprint) and
 * SHA-256, import an RSA-4096 public key and run two verifications (the
 * signer's binding self-signature and the tag's signature). No git, no
 * OpenPGP parsing, no keyring. bench/verify-tag.sh times it next to
 * verify-tag: no tool on the OpenSSL backend can start and verify faster.
 *
 * The signatures are not valid (the verification does the same modular
 * exponentiation and then rejects the padding); the exit code is 0 when
 * every call worked as expected.
 *
 * Build: cc -O2 openssl-floor.c -o openssl-floor -lcrypto */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <string.h>

static int digest(OSSL_LIB_CTX *ctx, const char *name, const unsigned char *in, size_t len,
                  unsigned char *out) {
    EVP_MD *md = EVP_MD_fetch(ctx, name, NULL);
    unsigned int n = 0;
    int ok = md != NULL && EVP_Digest(in, len, out, &n, md, NULL) == 1;
    EVP_MD_free(md);
    return ok;
}

int main(void) {
    OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ADD_ALL_CIPHERS |
                            OPENSSL_INIT_NO_ADD_ALL_DIGESTS | OPENSSL_INIT_NO_ATEXIT,
                        NULL);
    OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
    if (ctx == NULL)
        return 1;
    (void)OSSL_PROVIDER_try_load(ctx, "legacy", 1);

    static unsigned char key[1024], n[512], sig[512];
    unsigned char fpr[20], dgst[32];
    memset(key, 0x5a, sizeof key);
    if (!digest(ctx, "SHA1", key, sizeof key, fpr) ||
        !digest(ctx, "SHA2-256", key, sizeof key, dgst))
        return 1;

    memset(n, 0xc3, sizeof n);
    memset(sig, 0x17, sizeof sig);
    BIGNUM *bn = BN_bin2bn(n, sizeof n, NULL), *e = BN_new();
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bn == NULL || e == NULL || bld == NULL || !BN_set_word(e, 65537) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
        return 1;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(ctx, "RSA", NULL);
    EVP_PKEY *pkey = NULL;
    if (params == NULL || pctx == NULL || EVP_PKEY_fromdata_init(pctx) != 1 ||
        EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        return 1;

    for (int i = 0; i < 2; i++) {
        EVP_PKEY_CTX *v = EVP_PKEY_CTX_new_from_pkey(ctx, pkey, NULL);
        if (v == NULL || EVP_PKEY_verify_init(v) != 1 ||
            EVP_PKEY_CTX_set_rsa_padding(v, RSA_PKCS1_PADDING) != 1 ||
            EVP_PKEY_CTX_set_signature_md(v, EVP_sha256()) != 1)
            return 1;
        /* 0: computed, and the (made-up) signature rejected. */
        if (EVP_PKEY_verify(v, sig, sizeof sig, dgst, sizeof dgst) != 0)
            return 1;
        EVP_PKEY_CTX_free(v);
    }
    return 0;
}
