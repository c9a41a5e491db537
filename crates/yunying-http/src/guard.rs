//! Who may talk to this server from a browser: CORS origins and the Host
//! check against DNS rebinding.
//!
//! Without a bearer token, DICOMweb on loopback answers anyone who can
//! reach the port, so browsers must not let other pages read it: no
//! `Access-Control-Allow-Origin` unless the origin is configured, and no
//! answer at all to a request whose `Host` is not a name of this server (a
//! page of `evil.example` whose name was re-pointed at 127.0.0.1 is same
//! origin with itself, not with us, and its requests say `Host:
//! evil.example`).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::{ApiError, HttpConfig};

fn has_token(config: &HttpConfig) -> bool {
    config.bearer_token.as_deref().is_some_and(|t| !t.is_empty())
}

/// The CORS layer: configured origins only; any origin when a bearer token
/// protects DICOMweb and `cors_any_origin_with_token` allows it.
pub(crate) fn cors(config: &HttpConfig) -> CorsLayer {
    let token = has_token(config);
    let any = token && (config.cors_any_origin_with_token || config.cors_allowed_origins.iter().any(|o| o == "*"));
    let origins: Vec<HeaderValue> = config
        .cors_allowed_origins
        .iter()
        .filter(|o| *o != "*")
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    CorsLayer::new()
        .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::ACCEPT, header::CONTENT_TYPE, header::IF_NONE_MATCH, header::RANGE])
        .expose_headers([header::ETAG, header::WARNING, header::CONTENT_LENGTH, header::CONTENT_RANGE])
        .max_age(std::time::Duration::from_secs(3600))
        .allow_origin(if any { AllowOrigin::any() } else { AllowOrigin::list(origins) })
}

/// The host names requests may be addressed to.
pub(crate) struct Hosts {
    /// Lower case, without port or brackets; `None`: any host.
    names: Option<Vec<String>>,
}

impl Hosts {
    pub(crate) fn new(config: &HttpConfig) -> Hosts {
        if has_token(config) && config.allowed_hosts.is_empty() {
            return Hosts { names: None };
        }
        let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"].into_iter().map(String::from).collect();
        if !config.bind.is_unspecified() {
            names.push(config.bind.to_string());
        }
        if let Some(url) = config.public_url.as_deref() {
            let authority = url.split_once("://").map_or(url, |(_, rest)| rest);
            names.push(host_name(authority.split('/').next().unwrap_or("")));
        }
        names.extend(config.allowed_hosts.iter().map(|h| host_name(h)));
        names.retain(|n| !n.is_empty());
        Hosts { names: Some(names) }
    }

    fn allows(&self, host: &str) -> bool {
        self.names.as_ref().is_none_or(|names| names.iter().any(|n| *n == host_name(host)))
    }
}

/// `Name:port`, `[::1]:port`, `::1` → `name`, `::1`.
fn host_name(authority: &str) -> String {
    let a = authority.trim();
    let name = if let Some(rest) = a.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else if a.matches(':').count() == 1 {
        a.split(':').next().unwrap_or("")
    } else {
        a
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// `X-Forwarded-Proto` as handlers may read it: `https` for a request
/// over our own TLS, dropped unless a trusted proxy (`http.trusted_proxies`)
/// sent it. The links Yunying writes (QIDO-RS and STOW-RS Retrieve URLs)
/// then follow the scheme the client used, and no client can choose it.
pub(crate) async fn forwarded_proto(State(trusted): State<Arc<Vec<std::net::IpAddr>>>, mut request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let over_tls = request.extensions().get::<crate::tls::Tls>().is_some();
    let headers = request.headers_mut();
    if over_tls {
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
    } else if !peer.is_some_and(|p| trusted.contains(&p)) {
        headers.remove("x-forwarded-proto");
    }
    next.run(request).await
}

/// Whether the (already vetted, see [`forwarded_proto`]) `X-Forwarded-Proto`
/// says https: its last value, as the nearest proxy wrote it.
pub(crate) fn forwarded_https(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all("x-forwarded-proto")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// Refuse requests for hosts that are not ours with 421.
pub(crate) async fn check_host(State(hosts): State<Arc<Hosts>>, request: Request, next: Next) -> Response {
    let host = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| request.headers().get(header::HOST).map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned()));
    // No Host at all: not a browser (HTTP/1.0 tools); browsers always send one.
    if let Some(host) = host
        && !hosts.allows(&host)
    {
        let shown: String = host.chars().filter(|c| !c.is_control()).take(100).collect();
        return ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            format!("this server does not answer for host {shown:?}; add it to http.allowed_hosts if it is one of its names"),
        )
        .into_response();
    }
    next.run(request).await
}

/// Refuse request targets longer than `http.max_uri_bytes` with 414,
/// before anything parses them.
pub(crate) async fn check_uri_length(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let len = request.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if len > limit {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            format!("the request target is {len} bytes, more than http.max_uri_bytes ({limit})"),
        )
        .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        assert_eq!(host_name("LocalHost:8042"), "localhost");
        assert_eq!(host_name("[::1]:8042"), "::1");
        assert_eq!(host_name("::1"), "::1");
        assert_eq!(host_name("evil.example."), "evil.example");
        let hosts = Hosts::new(&HttpConfig { public_url: Some("https://Film.example.cn/".into()), ..Default::default() });
        assert!(hosts.allows("localhost:8042") && hosts.allows("127.0.0.1") && hosts.allows("[::1]:1") && hosts.allows("film.example.cn"));
        assert!(!hosts.allows("evil.example:8042") && !hosts.allows("localhost.evil.example"));
        let token = HttpConfig { bearer_token: Some("t".into()), ..Default::default() };
        assert!(Hosts::new(&token).allows("anything.example"));
    }
}
