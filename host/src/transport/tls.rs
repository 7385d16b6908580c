//! TLS when `client.ca_file` is set: the file's certificates are trusted as
//! CAs (on top of the built-in web roots), and a certificate in it that the
//! server presents as its own is accepted as is (a pinned self-signed
//! certificate, as `openssl req -x509` makes: webpki alone refuses such a
//! certificate with `CaUsedAsEndEntity`). See docs/security.md, "Network".

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use super::{TlsVersion, TransportError};

/// A rustls client config trusting `ca_file` (PEM: one or more certificates).
pub(crate) fn client_config(
    ca_file: &Path,
    min: Option<TlsVersion>,
    max: Option<TlsVersion>,
) -> Result<rustls::ClientConfig, TransportError> {
    let settings = |message: String| TransportError::Settings(message);
    // One reading rule for every user-named file (regular, size-capped):
    // see docs/security.md#files.
    let pem = crate::config::files::read(ca_file, crate::config::files::FileKind::Certificate)
        .map_err(|e| settings(format!("ca_file {e}")))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| settings(format!("ca_file {} is not PEM: {e}", ca_file.display())))?;
    if certs.is_empty() {
        return Err(settings(format!(
            "ca_file {} holds no certificate (expected PEM `-----BEGIN CERTIFICATE-----` blocks)",
            ca_file.display()
        )));
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // A certificate that is not a usable trust anchor can still be pinned.
    let (_added, _ignored) = roots.add_parsable_certificates(certs.iter().cloned());

    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| settings(format!("ca_file {}: {e}", ca_file.display())))?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::V1_2, &rustls::version::TLS12),
        (TlsVersion::V1_3, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| min.is_none_or(|min| *v >= min) && max.is_none_or(|max| *v <= max))
    .map(|(_, version)| version)
    .collect();
    if versions.is_empty() {
        return Err(settings(
            "no TLS version left between min_tls_version and max_tls_version \
             (apirun speaks TLS 1.2 and 1.3)"
                .into(),
        ));
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| settings(format!("TLS versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedOrWebPki {
            pinned: certs,
            webpki,
        }))
        .with_no_client_auth();
    // reqwest is built for HTTP/1.1 only (no `http2` feature).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts a server certificate byte-equal to one in `ca_file` (still
/// checking that it names the host), else verifies the chain with webpki.
#[derive(Debug)]
struct PinnedOrWebPki {
    pinned: Vec<CertificateDer<'static>>,
    webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for PinnedOrWebPki {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self
            .pinned
            .iter()
            .any(|pin| pin.as_ref() == end_entity.as_ref())
        {
            let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_name(&parsed, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    // The handshake signatures are checked against the presented
    // certificate's key either way.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// The rustls error somewhere in `error`'s cause chain. An `io::Error`
/// hides its inner error from `source()` (and hyper wraps io errors in io
/// errors), so look inside those too.
pub(crate) fn find_tls_error<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    let mut current = Some(error);
    // Bounded: cause chains are short; a cycle must not hang a send.
    for _ in 0..32 {
        let e = current?;
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        current = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// A TLS failure in words, naming the host and what to do.
pub(crate) fn describe_tls_error(error: &rustls::Error, host: &str) -> String {
    let fix = "if the server uses a self-signed certificate or your own CA, give that \
               certificate or CA (PEM) as `client.ca_file`, or set `client.insecure: true` \
               (no verification: for tests only)";
    let refused = |why: &str| format!("TLS: the certificate of {host} was refused: {why}; {fix}");
    match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => {
                refused("it is not signed by a trusted certificate authority")
            }
            // webpki's CaUsedAsEndEntity reaches rustls as an opaque `Other`
            // error; its text is the only handle on it.
            CertificateError::Other(other) if other.to_string().contains("CaUsedAsEndEntity") => {
                refused("it is a CA (self-signed) certificate that is not in client.ca_file")
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "TLS: the certificate of {host} is not valid for that name ({error}); \
                     use a host name the certificate lists, or set `client.insecure: true` \
                     (no verification: for tests only)"
                )
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                refused("it has expired")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                refused("it is not valid yet")
            }
            CertificateError::Revoked => refused("it has been revoked"),
            CertificateError::BadSignature => refused("its signature is invalid"),
            CertificateError::BadEncoding => refused("it cannot be parsed"),
            _ => refused(&error.to_string()),
        },
        _ => format!("TLS handshake with {host} failed: {error}"),
    }
}
