#include "serve/tls_certs.hpp"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <functional>

#include <fmt/format.h>

namespace refit::serve {

namespace {

struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
};
struct ExtensionFree {
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
struct BignumFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct CertStackFree {
  void operator()(STACK_OF(X509) * p) const { sk_X509_pop_free(p, X509_free); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

// OpenSSL's error queue as text ("error:0480006C:PEM routines::no start line"), emptied. Its
// entries name routines and reasons, never the data being processed.
std::string openssl_errors() {
  std::string out;
  while (unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no detail from OpenSSL" : out;
}

[[noreturn]] void fail(const std::string& what) { throw TlsError(fmt::format("{}: {}", what, openssl_errors())); }

void check(int ok, const char* what) {
  if (ok != 1) fail(what);
}

BioPtr read_bio(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) fail("cannot allocate a memory BIO");
  return bio;
}

std::string write_pem(const std::function<int(BIO*)>& write, const char* what) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) fail("cannot allocate a memory BIO");
  check(write(bio.get()), what);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

PkeyPtr generate_p256_key() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) fail("cannot generate an EC P-256 key");
  return key;
}

// A random positive 127-bit serial number, as RFC 5280 asks of a CA (unique, at most 20 octets).
void set_random_serial(X509* cert) {
  unsigned char bytes[16];
  check(RAND_bytes(bytes, sizeof bytes), "cannot draw a serial number");
  bytes[0] = static_cast<unsigned char>((bytes[0] & 0x7f) | 0x01);
  std::unique_ptr<BIGNUM, BignumFree> bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert))) fail("cannot set the serial number");
}

void add_name_entry(X509_NAME* name, const char* field, const std::string& value) {
  check(X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(value.c_str()),
                                   -1, -1, 0),
        "cannot set a subject name entry");
}

void add_extension(X509* cert, X509V3_CTX& ctx, int nid, const std::string& value) {
  std::unique_ptr<X509_EXTENSION, ExtensionFree> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext) fail(fmt::format("cannot make the {} extension \"{}\"", OBJ_nid2sn(nid), value));
  check(X509_add_ext(cert, ext.get(), -1), "cannot add an extension");
}

// A certificate for `key` with `subject`, valid as `options` says; extensions are added after.
X509Ptr new_certificate(EVP_PKEY* key, const std::string& common_name, const std::vector<std::string>& organizations,
                        const CertificateOptions& options) {
  X509Ptr cert(X509_new());
  if (!cert) fail("cannot allocate a certificate");
  check(X509_set_version(cert.get(), X509_VERSION_3), "cannot set the certificate version");
  set_random_serial(cert.get());
  if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), options.not_before_offset_s) ||
      !X509_gmtime_adj(X509_getm_notAfter(cert.get()), options.not_before_offset_s + options.lifetime_s)) {
    fail("cannot set the validity period");
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  for (const auto& o : organizations) add_name_entry(name, "O", o);
  add_name_entry(name, "CN", common_name);
  check(X509_set_pubkey(cert.get(), key), "cannot set the public key");
  return cert;
}

void sign(X509* cert, EVP_PKEY* issuer_key) {
  if (X509_sign(cert, issuer_key, EVP_sha256()) <= 0) fail("cannot sign the certificate");
}

CertifiedKey to_pem(X509* cert, EVP_PKEY* key) {
  return {write_pem([cert](BIO* b) { return PEM_write_bio_X509(b, cert); }, "cannot write the certificate"),
          write_pem([key](BIO* b) { return PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); },
                    "cannot write the private key")};
}

std::string common_name_of(X509* cert) {
  char buf[256] = {0};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf) < 0) return "";
  return buf;
}

bool is_ip_address(const std::string& host) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// A leaf certificate signed by `ca`: the shared part of server and client certificates.
CertifiedKey issue_leaf(const CertifiedKey& ca, const std::string& common_name,
                        const std::vector<std::string>& organizations, const char* extended_key_usage,
                        const std::string& subject_alt_names, const CertificateOptions& options) {
  X509Ptr ca_cert = parse_certificate(ca.cert_pem, "the CA certificate");
  PkeyPtr ca_key = parse_private_key(ca.key_pem, "the CA key");
  if (X509_check_private_key(ca_cert.get(), ca_key.get()) != 1) {
    ERR_clear_error();
    throw TlsError(
        fmt::format("the CA key does not belong to the CA certificate (CN {})", common_name_of(ca_cert.get())));
  }
  PkeyPtr key = generate_p256_key();
  X509Ptr cert = new_certificate(key.get(), common_name, organizations, options);
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get())), "cannot set the issuer name");
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca_cert.get(), cert.get(), nullptr, nullptr, 0);
  add_extension(cert.get(), ctx, NID_basic_constraints, "critical,CA:FALSE");
  // digitalSignature is all an ECDHE handshake needs of an EC key.
  add_extension(cert.get(), ctx, NID_key_usage, "critical,digitalSignature");
  add_extension(cert.get(), ctx, NID_ext_key_usage, extended_key_usage);
  add_extension(cert.get(), ctx, NID_subject_key_identifier, "hash");
  add_extension(cert.get(), ctx, NID_authority_key_identifier, "keyid:always");
  if (!subject_alt_names.empty()) add_extension(cert.get(), ctx, NID_subject_alt_name, subject_alt_names);
  sign(cert.get(), ca_key.get());
  return to_pem(cert.get(), key.get());
}

}  // namespace

CertifiedKey generate_ca(const std::string& common_name, const CertificateOptions& options) {
  PkeyPtr key = generate_p256_key();
  X509Ptr cert = new_certificate(key.get(), common_name, {}, options);
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())), "cannot set the issuer name");
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  add_extension(cert.get(), ctx, NID_basic_constraints, "critical,CA:TRUE");
  add_extension(cert.get(), ctx, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
  // The key identifier first: the authority key identifier of a self-signed certificate copies it.
  add_extension(cert.get(), ctx, NID_subject_key_identifier, "hash");
  add_extension(cert.get(), ctx, NID_authority_key_identifier, "keyid:always");
  sign(cert.get(), key.get());
  return to_pem(cert.get(), key.get());
}

CertifiedKey issue_server_certificate(const CertifiedKey& ca, const std::string& common_name,
                                      const std::vector<std::string>& hosts, const CertificateOptions& options) {
  std::string sans;
  for (const auto& host : hosts) {
    if (host.empty() || host.find_first_of(", \t\n") != std::string::npos) {
      throw TlsError(fmt::format("\"{}\" is not a host name or IP address for a server certificate", host));
    }
    if (!sans.empty()) sans += ',';
    sans += (is_ip_address(host) ? "IP:" : "DNS:") + host;
  }
  return issue_leaf(ca, common_name, {}, "serverAuth", sans, options);
}

CertifiedKey issue_client_certificate(const CertifiedKey& ca, const std::string& user,
                                      const std::vector<std::string>& groups, const CertificateOptions& options) {
  return issue_leaf(ca, user, groups, "clientAuth", "", options);
}

ServingCertificates generate_serving_certificates(const std::string& user) {
  ServingCertificates out;
  out.ca = generate_ca("refit-sim-ca");
  out.server = issue_server_certificate(out.ca, "refit-sim-apiserver");
  out.client = issue_client_certificate(out.ca, user, {"system:masters"});
  return out;
}

X509Ptr parse_certificate(const std::string& pem, const std::string& what) {
  BioPtr bio = read_bio(pem);
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) fail(what + " is not a PEM certificate");
  return cert;
}

PkeyPtr parse_private_key(const std::string& pem, const std::string& what) {
  BioPtr bio = read_bio(pem);
  // An empty passphrase callback result: an encrypted key fails instead of prompting on the terminal.
  auto no_passphrase = [](char*, int, int, void*) { return 0; };
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) fail(what + " is not an unencrypted PEM private key");
  return key;
}

namespace {

// Every certificate in a PEM bundle (at least one).
std::unique_ptr<STACK_OF(X509), CertStackFree> parse_certificates(const std::string& pem, const std::string& what) {
  std::unique_ptr<STACK_OF(X509), CertStackFree> certs(sk_X509_new_null());
  if (!certs) fail("cannot allocate a certificate list");
  BioPtr bio = read_bio(pem);
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    if (!sk_X509_push(certs.get(), cert)) {
      X509_free(cert);
      fail("cannot grow a certificate list");
    }
  }
  // The loop ends at the end of the input ("no start line"): an error only when nothing was read.
  if (sk_X509_num(certs.get()) == 0) fail(what + " holds no PEM certificate");
  ERR_clear_error();
  return certs;
}

}  // namespace

StorePtr make_trust_store(const std::string& ca_pem) {
  auto certs = parse_certificates(ca_pem, "the CA bundle");
  StorePtr store(X509_STORE_new());
  if (!store) fail("cannot allocate a certificate store");
  for (int i = 0; i < sk_X509_num(certs.get()); ++i) {
    check(X509_STORE_add_cert(store.get(), sk_X509_value(certs.get(), i)), "cannot add a CA certificate to the store");
  }
  return store;
}

void verify_certificate(const std::string& cert_pem, const std::string& ca_pem, Purpose purpose) {
  auto chain = parse_certificates(cert_pem, "the certificate");
  X509* leaf = sk_X509_value(chain.get(), 0);
  StorePtr store = make_trust_store(ca_pem);
  std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
  if (!ctx) fail("cannot allocate a verification context");
  // Certificates after the first are intermediates the verifier may use, never trust anchors.
  check(X509_STORE_CTX_init(ctx.get(), store.get(), leaf, chain.get()), "cannot start the verification");
  if (purpose != Purpose::Any) {
    check(X509_STORE_CTX_set_purpose(ctx.get(),
                                     purpose == Purpose::Server ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT),
          "cannot set the verification purpose");
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    ERR_clear_error();
    int error = X509_STORE_CTX_get_error(ctx.get());
    throw TlsError(fmt::format("certificate CN {} does not verify against the CA: {}", common_name_of(leaf),
                               X509_verify_cert_error_string(error)));
  }
}

void configure_server_context(SSL_CTX& ctx, const CertifiedKey& server, const std::string& client_ca_pem,
                              ClientCertificates mode) {
  check(SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION), "cannot require TLS 1.2");
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  X509Ptr cert = parse_certificate(server.cert_pem, "the server certificate");
  PkeyPtr key = parse_private_key(server.key_pem, "the server key");
  check(SSL_CTX_use_certificate(&ctx, cert.get()), "cannot use the server certificate");
  check(SSL_CTX_use_PrivateKey(&ctx, key.get()), "cannot use the server key");
  check(SSL_CTX_check_private_key(&ctx), "the server key does not belong to the server certificate");
  if (mode == ClientCertificates::None) {
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_NONE, nullptr);
    return;
  }
  StorePtr store = make_trust_store(client_ca_pem);
  // The CAs the server names in its certificate request: a client (Go's crypto/tls, kubectl) offers
  // only a certificate issued by one of them.
  STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(store.get());
  for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i) {
    if (X509* ca = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i))) {
      check(SSL_CTX_add_client_CA(&ctx, ca), "cannot name a client CA");
    }
  }
  SSL_CTX_set_cert_store(&ctx, store.release());
  int verify = SSL_VERIFY_PEER;
  if (mode == ClientCertificates::Required) verify |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(&ctx, verify, nullptr);
}

std::optional<ClientIdentity> peer_identity(const SSL* ssl) {
  if (ssl == nullptr) return std::nullopt;
  X509Ptr cert(SSL_get1_peer_certificate(ssl));
  // With SSL_VERIFY_PEER a certificate that fails verification fails the handshake; checking the
  // result again keeps this safe under any verify mode.
  if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) return std::nullopt;
  ClientIdentity id;
  X509_NAME* name = X509_get_subject_name(cert.get());
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(entry));
    if (nid != NID_commonName && nid != NID_organizationName) continue;
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
    if (n < 0) continue;
    std::string value(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(n));
    OPENSSL_free(utf8);
    if (nid == NID_commonName) id.user = value;
    else id.groups.push_back(value);
  }
  return id;
}

}  // namespace refit::serve
