// Certificates for `refit sim serve --tls`: a private CA made for one served world, the server's
// certificate for the loopback address, and client certificates that authenticate as a Kubernetes
// user (CN = user name, O = groups, as the API server reads them). Also the OpenSSL plumbing the
// server needs: PEM to owned handles, a trust store for client certificates, an SSL_CTX set up for
// cpp-httplib's SSLServer, and the identity a verified client presented.
//
// Private keys are secrets: no error message here ever holds key material (nor any PEM text).
#pragma once
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace refit::serve {

struct TlsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A certificate and its private key, PEM-encoded (the key as unencrypted PKCS#8, "PRIVATE KEY").
struct CertifiedKey {
  std::string cert_pem;
  std::string key_pem;  // secret
};

struct CertificateOptions {
  // Valid from one hour ago (clocks of the client and the server may differ a little) ...
  long not_before_offset_s = -3600;
  // ... to a year from now.
  long lifetime_s = 365L * 24 * 3600;
};

// A self-signed CA: CA:TRUE (critical, no path length), keyUsage keyCertSign + cRLSign +
// digitalSignature, an EC P-256 key, signed with SHA-256.
CertifiedKey generate_ca(const std::string& common_name, const CertificateOptions& options = {});

// A server certificate signed by `ca`: CN `common_name`, subjectAltName with each of `hosts` as an
// IP address when it parses as one (IPv4 or IPv6), else as a DNS name; extendedKeyUsage serverAuth.
CertifiedKey issue_server_certificate(const CertifiedKey& ca, const std::string& common_name,
                                      const std::vector<std::string>& hosts = {"127.0.0.1", "localhost"},
                                      const CertificateOptions& options = {});

// A client certificate signed by `ca`: CN `user`, one O per group ("system:masters" makes the user
// a cluster admin on a real API server); extendedKeyUsage clientAuth.
CertifiedKey issue_client_certificate(const CertifiedKey& ca, const std::string& user,
                                      const std::vector<std::string>& groups, const CertificateOptions& options = {});

// What a served world needs: its CA, the server's certificate (127.0.0.1 and localhost) and one
// admin client certificate (CN `user`, O system:masters) for the kubeconfig it writes.
struct ServingCertificates {
  CertifiedKey ca;
  CertifiedKey server;
  CertifiedKey client;
};
ServingCertificates generate_serving_certificates(const std::string& user = "refit-admin");

// The purpose a certificate is checked for, besides its chain: serverAuth or clientAuth when it
// carries an extendedKeyUsage (X509_PURPOSE_SSL_SERVER / _CLIENT).
enum class Purpose { Any, Server, Client };

// Throws TlsError unless `cert_pem` (its first certificate) chains to the certificate `ca_pem`, is
// valid now and fits `purpose`. The message gives OpenSSL's reason ("certificate has expired",
// "unable to get local issuer certificate").
void verify_certificate(const std::string& cert_pem, const std::string& ca_pem, Purpose purpose = Purpose::Any);

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct StoreFree {
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using StorePtr = std::unique_ptr<X509_STORE, StoreFree>;

// PEM to owned handles. `what` names the input in errors ("the server certificate").
X509Ptr parse_certificate(const std::string& pem, const std::string& what);
PkeyPtr parse_private_key(const std::string& pem, const std::string& what);
// A trust store holding the CA certificate(s) in `ca_pem`. SSL_CTX_set_cert_store (and so
// httplib::SSLServer's client-CA constructor) takes ownership: pass it `.release()`.
StorePtr make_trust_store(const std::string& ca_pem);

// How the server treats client certificates. Optional is what a Kubernetes API server does: it asks
// for one, verifies it against the CA when one is sent, and lets requests without one through (to
// authenticate by token instead). Required fails the handshake without a valid client certificate.
enum class ClientCertificates { None, Optional, Required };

// Sets up `ctx` to serve `server` (TLS 1.2 or later) and to verify client certificates against
// `client_ca_pem` as `mode` says: the body of httplib::SSLServer's SSL_CTX callback constructor
// (which then returns true). Throws TlsError.
void configure_server_context(SSL_CTX& ctx, const CertifiedKey& server, const std::string& client_ca_pem,
                              ClientCertificates mode);

// The user a client authenticated as with its (verified) certificate: CN and the O entries, in
// order. None when the connection is not TLS or the client sent no certificate. For handlers:
// `peer_identity(request.ssl)` (httplib::Request::ssl).
struct ClientIdentity {
  std::string user;
  std::vector<std::string> groups;
};
std::optional<ClientIdentity> peer_identity(const SSL* ssl);

}  // namespace refit::serve
