//! Talking to identity providers as a client: discovery, their signing
//! keys (JWKS), the token endpoint, and the validation of the JWTs they
//! sign. No HTTP is served here.
//!
//! Keys are cached per provider and fetched again when a token names a key
//! we do not have (the provider rotated), at most once a minute, so tokens
//! with made-up key ids cannot make us hammer the provider. A token is
//! accepted only with an asymmetric signature (RS*, PS*, ES*, EdDSA: never
//! `none`, never an HMAC that a client secret could forge) by a key whose
//! type, and declared algorithm if any, match the token's header, from the
//! provider's issuer, for our audience, within `exp`/`nbf` and 60 s of
//! clock skew.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use super::OidcProvider;
use crate::{Denied, now_ms};

/// Clock skew allowed on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 60;
/// Least time between two fetches of a provider's keys.
const REFETCH_KEYS_MS: i64 = 60_000;
/// Largest answer read from a provider.
const MAX_RESPONSE_BYTES: usize = 1 << 20;
const TIMEOUT: Duration = Duration::from_secs(10);

/// What a provider's discovery document says (the parts we use).
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

#[derive(Default)]
struct Keys {
    keys: Vec<Jwk>,
    fetched_ms: i64,
}

/// One configured provider with what we learnt of it.
pub struct Idp {
    pub config: OidcProvider,
    discovery: Mutex<Option<Discovery>>,
    keys: Mutex<Keys>,
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Every configured provider, and one HTTP client for all of them.
pub struct Idps {
    pub list: Vec<Idp>,
    client: std::sync::OnceLock<Result<HttpsClient, String>>,
}

/// Whether `url` may be used: https, or http to this machine (tests, a
/// provider on the same host).
pub fn allowed_url(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split(']').next().unwrap_or("").trim_start_matches('[')
    } else {
        host.split(':').next().unwrap_or("")
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Idps {
    pub fn new(providers: &[OidcProvider]) -> Idps {
        let list =
            providers.iter().map(|p| Idp { config: p.clone(), discovery: Mutex::new(None), keys: Mutex::new(Keys::default()) }).collect();
        Idps { list, client: std::sync::OnceLock::new() }
    }

    pub fn named(&self, name: &str) -> Option<&Idp> {
        self.list.iter().find(|i| i.config.name == name)
    }

    /// The provider whose issuer this is.
    pub fn by_issuer(&self, iss: &str) -> Option<&Idp> {
        self.list.iter().find(|i| i.config.issuer.trim_end_matches('/') == iss.trim_end_matches('/'))
    }

    fn client(&self) -> Result<&HttpsClient, Denied> {
        self.client
            .get_or_init(|| {
                let tls = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
                    .map_err(|e| format!("no TLS roots for identity providers: {e}"))?
                    .https_or_http()
                    .enable_http1()
                    .build();
                Ok(Client::builder(TokioExecutor::new()).build(tls))
            })
            .as_ref()
            .map_err(|e| Denied::Unavailable(e.clone()))
    }

    /// Send a request and read a JSON answer of at most 1 MiB.
    async fn json(&self, request: Request<Full<Bytes>>) -> Result<Value, Denied> {
        let what = request.uri().clone();
        let client = self.client()?;
        let fail = |e: String| Denied::Unavailable(format!("identity provider at {what}: {e}"));
        let response = tokio::time::timeout(TIMEOUT, client.request(request))
            .await
            .map_err(|_| fail("no answer within 10 s".into()))?
            .map_err(|e| fail(e.to_string()))?;
        let status = response.status();
        let body = tokio::time::timeout(TIMEOUT, Limited::new(response.into_body(), MAX_RESPONSE_BYTES).collect())
            .await
            .map_err(|_| fail("answer too slow".into()))?
            .map_err(|e| fail(e.to_string()))?
            .to_bytes();
        let value: Value = serde_json::from_slice(&body).map_err(|_| fail(format!("{status}, not JSON")))?;
        if !status.is_success() {
            // The provider's error code only: its description may echo input.
            let code = value.get("error").and_then(Value::as_str).unwrap_or("unknown").chars().take(64).collect::<String>();
            return Err(Denied::Unauthenticated(format!("the identity provider refused: {status} {code}")));
        }
        Ok(value)
    }

    async fn get(&self, url: &str) -> Result<Value, Denied> {
        if !allowed_url(url) {
            return Err(Denied::Unavailable(format!("identity provider URL {url} is not https")));
        }
        let request = Request::get(url)
            .header("accept", "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|e| Denied::Unavailable(format!("{url}: {e}")))?;
        self.json(request).await
    }

    /// POST a form (the token endpoint), with HTTP Basic client
    /// authentication when there is a secret.
    pub async fn post_form(&self, url: &str, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Result<Value, Denied> {
        if !allowed_url(url) {
            return Err(Denied::Unavailable(format!("identity provider URL {url} is not https")));
        }
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let mut request =
            Request::post(url).header("content-type", "application/x-www-form-urlencoded").header("accept", "application/json");
        if let Some((id, secret)) = basic {
            // RFC 6749 §2.3.1: both form-encoded before Basic.
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            use base64::Engine;
            let pair = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret)));
            request = request.header("authorization", format!("Basic {pair}"));
        }
        let request = request.body(Full::new(Bytes::from(body))).map_err(|e| Denied::Unavailable(format!("{url}: {e}")))?;
        self.json(request).await
    }

    /// The provider's discovery document (fetched once).
    pub async fn discovery(&self, idp: &Idp) -> Result<Discovery, Denied> {
        let mut cached = idp.discovery.lock().await;
        if let Some(d) = cached.as_ref() {
            return Ok(d.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", idp.config.issuer.trim_end_matches('/'));
        let d: Discovery = serde_json::from_value(self.get(&url).await?)
            .map_err(|e| Denied::Unavailable(format!("{url}: not a discovery document: {e}")))?;
        if d.issuer != idp.config.issuer {
            return Err(Denied::Unavailable(format!("{url} names issuer {} instead of {}", d.issuer, idp.config.issuer)));
        }
        for endpoint in [&d.authorization_endpoint, &d.token_endpoint, &d.jwks_uri] {
            if !allowed_url(endpoint) {
                return Err(Denied::Unavailable(format!("{url}: endpoint {endpoint} is not https")));
            }
        }
        *cached = Some(d.clone());
        Ok(d)
    }

    /// The key `kid` names (or the only key of the token's type when the
    /// token names none), fetching the keys again if it is unknown.
    async fn key(&self, idp: &Idp, kid: Option<&str>, alg: Algorithm) -> Result<Jwk, Denied> {
        let mut keys = idp.keys.lock().await;
        let now = now_ms();
        for attempt in 0..2 {
            if let Some(k) = pick(&keys.keys, kid, alg) {
                return Ok(k);
            }
            if attempt == 1 || now - keys.fetched_ms < REFETCH_KEYS_MS {
                break;
            }
            let d = self.discovery(idp).await?;
            let set = self.get(&d.jwks_uri).await?;
            // Keys are read one by one: one this library cannot read (an
            // encryption key, a new type) does not hide the others.
            keys.keys = set
                .get("keys")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok()).collect())
                .unwrap_or_default();
            keys.fetched_ms = now;
        }
        Err(Denied::Unauthenticated("the token is signed with a key the identity provider does not publish".into()))
    }

    /// Validate a JWT from `idp` for `audience`: its claims.
    pub async fn validate(&self, idp: &Idp, token: &str, audience: &str) -> Result<Map<String, Value>, Denied> {
        let invalid = |why: &str| Denied::Unauthenticated(format!("invalid token: {why}"));
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed"))?;
        if !ASYMMETRIC.contains(&header.alg) {
            return Err(invalid("unsupported signature algorithm"));
        }
        if let Some(typ) = header.typ.as_deref() {
            let t = typ.to_ascii_lowercase();
            if !matches!(t.trim_start_matches("application/"), "jwt" | "at+jwt") {
                return Err(invalid("not a JWT access or ID token"));
            }
        }
        let jwk = self.key(idp, header.kid.as_deref(), header.alg).await?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| invalid("unusable key"))?;
        let d = self.discovery(idp).await?;
        let mut v = Validation::new(header.alg);
        v.leeway = LEEWAY_SECS;
        v.validate_nbf = true;
        v.set_issuer(&[&d.issuer]);
        v.set_audience(&[audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind::*;
            invalid(match e.kind() {
                ExpiredSignature => "expired",
                ImmatureSignature => "not valid yet",
                InvalidAudience => "not for this audience",
                InvalidIssuer => "wrong issuer",
                InvalidSignature => "bad signature",
                MissingRequiredClaim(_) => "a required claim is missing",
                _ => "rejected",
            })
        })?;
        Ok(data.claims)
    }
}

const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// A signing key for `alg`: named by `kid`, or the only one of its type.
fn pick(keys: &[Jwk], kid: Option<&str>, alg: Algorithm) -> Option<Jwk> {
    let fits = |k: &&Jwk| {
        let kind_fits = match &k.algorithm {
            AlgorithmParameters::RSA(_) => matches!(
                alg,
                Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 | Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512
            ),
            AlgorithmParameters::EllipticCurve(_) => matches!(alg, Algorithm::ES256 | Algorithm::ES384),
            AlgorithmParameters::OctetKeyPair(_) => alg == Algorithm::EdDSA,
            _ => false,
        };
        let alg_fits = k.common.key_algorithm.is_none_or(|a| key_alg_name(a) == Some(alg));
        let use_fits = !matches!(k.common.public_key_use, Some(PublicKeyUse::Encryption) | Some(PublicKeyUse::Other(_)));
        kind_fits && alg_fits && use_fits
    };
    match kid {
        Some(kid) => keys.iter().filter(|k| k.common.key_id.as_deref() == Some(kid)).find(fits).cloned(),
        None => {
            let mut candidates = keys.iter().filter(fits);
            let first = candidates.next()?;
            candidates.next().is_none().then(|| first.clone())
        }
    }
}

fn key_alg_name(a: KeyAlgorithm) -> Option<Algorithm> {
    Some(match a {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_this_machine() {
        assert!(allowed_url("https://idp.example.cn/realms/a"));
        assert!(allowed_url("http://127.0.0.1:9000/"));
        assert!(allowed_url("http://localhost/x"));
        assert!(allowed_url("http://[::1]:8080"));
        assert!(!allowed_url("http://idp.example.cn"));
        assert!(!allowed_url("http://127.0.0.1.evil.example/"));
        assert!(!allowed_url("http://evil.example@127.0.0.2x/"));
        assert!(!allowed_url("ftp://127.0.0.1/"));
    }
}
