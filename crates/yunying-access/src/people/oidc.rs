//! OpenID Connect: people a hospital's identity provider vouches for.
//!
//! Two ways in. A browser signs in with the authorization code flow, with
//! PKCE (S256), `state` and `nonce`: what the callback needs is kept in the
//! index (the digest of `state`, bounded in number and to ten minutes, and
//! answering once), the code is exchanged at the provider's token endpoint,
//! the ID token validated, and a session begins. A system or a viewer
//! presents the provider's JWT access token as a bearer token, validated on
//! every request.
//!
//! Either way the person becomes a local account linked by issuer and
//! subject (never by a name, which another provider or a local account may
//! share): created on first sight, and its institution and roles refreshed
//! from the token's claims through the provider's mapping each time.
//! Administrator roles come from a provider only where `admin_roles` says
//! it enforces a second factor of its own.

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use yunying_index::{OidcLogin, UserRow};

use super::idp::{Idp, allowed_url};
use super::sessions::{SignedIn, digest};
use super::{principal_of, roles_of, roles_text};
use crate::roles::check_role_set;
use crate::{Access, Denied, Principal, Role, now_ms, random_id};

/// How long a browser has to come back from the provider.
const LOGIN_TTL_MS: i64 = 10 * 60_000;
/// Most sign-ins waiting for a provider's answer at once.
const MAX_WAITING: i64 = 10_000;

/// An identity provider (`[[access.oidc]]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProvider {
    /// Its name in URLs (`/api/auth/oidc/{name}/login`) and on the sign-in
    /// page ("Sign in with {name}"): letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// The issuer URL, exactly as the provider's discovery document names
    /// it (`https://sso.hospital-a.cn/realms/staff`).
    pub issuer: String,
    pub client_id: String,
    /// The client secret (also `YUNYING_OIDC_<NAME>_CLIENT_SECRET`). Never
    /// printed. Unset: a public client (PKCE alone).
    #[serde(default, skip_serializing)]
    pub client_secret: Option<String>,
    /// The `aud` that bearer access tokens must carry (default: `client_id`).
    #[serde(default)]
    pub audience: Option<String>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim that names the person (dots reach into objects).
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// The claim holding the person's institution code...
    #[serde(default)]
    pub institution_claim: Option<String>,
    /// ...or the one institution everyone from this provider belongs to.
    #[serde(default)]
    pub institution: Option<String>,
    /// The claim holding the person's roles at the provider (a list, or
    /// words), e.g. `roles` or `realm_access.roles`. Unset: roles are
    /// given here, by the security administrator.
    #[serde(default)]
    pub roles_claim: Option<String>,
    /// The provider's role names to ours (`"PACS-Radiologe" =
    /// "radiologist"`). Empty: the provider uses our names.
    #[serde(default)]
    pub role_map: BTreeMap<String, String>,
    /// Accept administrator roles from this provider (it enforces a second
    /// factor itself). Otherwise they are dropped, with an event.
    #[serde(default)]
    pub admin_roles: bool,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into()]
}

fn default_username_claim() -> String {
    "preferred_username".into()
}

impl OidcProvider {
    /// The environment variable that may hold the client secret.
    pub fn secret_env_var(&self) -> String {
        let name: String = self.name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
        format!("YUNYING_OIDC_{name}_CLIENT_SECRET")
    }

    pub fn audience(&self) -> &str {
        self.audience.as_deref().unwrap_or(&self.client_id)
    }

    pub fn validate(&self) -> Result<(), String> {
        let name = &self.name;
        if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
            return Err(format!("access.oidc name {name:?}: 1 to 64 letters, digits, - _ ."));
        }
        if !allowed_url(&self.issuer) {
            return Err(format!("access.oidc {name}: the issuer must be https (http only on this machine)"));
        }
        if self.client_id.is_empty() {
            return Err(format!("access.oidc {name}: client_id is required"));
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            return Err(format!("access.oidc {name}: scopes must include openid"));
        }
        if self.institution.is_some() && self.institution_claim.is_some() {
            return Err(format!("access.oidc {name}: set institution or institution_claim, not both"));
        }
        for ours in self.role_map.values() {
            Role::parse(ours).ok_or_else(|| format!("access.oidc {name}: role_map names unknown role {ours:?}"))?;
        }
        Ok(())
    }
}

/// A claim by name; dots reach into objects (`realm_access.roles`).
fn claim<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut v = claims.get(parts.next()?)?;
    for p in parts {
        v = v.get(p)?;
    }
    Some(v)
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        Value::String(s) => s.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// What the claims say of the person, through the provider's mapping.
struct Mapped {
    subject: String,
    username: String,
    display_name: String,
    /// `None`: the provider says nothing of it (it stays as it is).
    institution: Option<Option<String>>,
    roles: Option<Vec<Role>>,
    dropped_admin: Vec<Role>,
}

fn map_claims(p: &OidcProvider, claims: &Map<String, Value>, sign_in: bool) -> Result<Mapped, Denied> {
    let subject = claims.get("sub").and_then(Value::as_str).filter(|s| !s.is_empty() && s.len() <= 255);
    let subject = subject.ok_or_else(|| Denied::Unauthenticated("invalid token: no subject".into()))?.to_string();
    let text = |name: &str| {
        claim(claims, name).and_then(Value::as_str).map(|s| s.chars().filter(|c| !c.is_control()).take(128).collect::<String>())
    };
    let username = text(&p.username_claim).filter(|s| !s.is_empty()).unwrap_or_else(|| subject.chars().take(128).collect());
    let display_name = text("name").unwrap_or_else(|| username.clone());
    let institution = match (&p.institution, &p.institution_claim) {
        (Some(fixed), _) => Some(Some(fixed.clone())),
        (None, Some(c)) => match text(c) {
            Some(code) => Some(Some(code).filter(|c| !c.is_empty())),
            // An ID token that says nothing says "none"; an access token
            // may just not carry it.
            None if sign_in => Some(None),
            None => None,
        },
        (None, None) => None,
    };
    let (mut roles, mut dropped_admin) = (None, Vec::new());
    if let Some(c) = &p.roles_claim {
        match claim(claims, c) {
            Some(v) => {
                let mut ours: Vec<Role> = strings(v)
                    .iter()
                    .filter_map(
                        |theirs| if p.role_map.is_empty() { Some(theirs.as_str()) } else { p.role_map.get(theirs).map(String::as_str) },
                    )
                    .filter_map(Role::parse)
                    .collect();
                ours.sort();
                ours.dedup();
                if !p.admin_roles {
                    dropped_admin = ours.iter().copied().filter(|r| r.requires_second_factor()).collect();
                    ours.retain(|r| !r.requires_second_factor());
                }
                check_role_set(&ours)
                    .map_err(|why| Denied::Forbidden(format!("the identity provider's roles cannot be held together: {why}")))?;
                roles = Some(ours);
            }
            None if sign_in => roles = Some(Vec::new()),
            None => {}
        }
    }
    Ok(Mapped { subject, username, display_name, institution, roles, dropped_admin })
}

/// Where the browser is sent to sign in, and the `state` to bind to it.
#[derive(Debug)]
pub struct OidcRedirect {
    pub url: String,
    pub state: String,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Access {
    /// The configured providers' names, for the sign-in page.
    pub fn oidc_providers(&self) -> Vec<String> {
        self.idps().list.iter().map(|i| i.config.name.clone()).collect()
    }

    fn idp(&self, name: &str) -> Result<&Idp, Denied> {
        self.idps().named(name).ok_or_else(|| Denied::NotFound(format!("no identity provider {name}")))
    }

    /// Begin a browser sign-in with provider `name`; the provider sends the
    /// browser back to `redirect_uri` (our callback).
    pub async fn oidc_begin(&self, name: &str, redirect_uri: &str) -> Result<OidcRedirect, Denied> {
        let idp = self.idp(name)?;
        let d = self.idps().discovery(idp).await?;
        let (state, nonce, verifier) =
            (b64(&rand::random::<[u8; 32]>()), b64(&rand::random::<[u8; 32]>()), b64(&rand::random::<[u8; 32]>()));
        let now = now_ms();
        let login = OidcLogin {
            state_digest: digest(&state),
            provider: name.to_string(),
            nonce: nonce.clone(),
            verifier: verifier.clone(),
            created_ms: now,
        };
        if !self.index().insert_oidc_login(&login, now - LOGIN_TTL_MS, MAX_WAITING).await? {
            return Err(Denied::Unavailable("too many sign-ins are waiting for the identity provider: try again in a few minutes".into()));
        }
        let challenge = b64(&Sha256::digest(verifier.as_bytes()));
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &idp.config.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &idp.config.scopes.join(" "))
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .finish();
        let sep = if d.authorization_endpoint.contains('?') { '&' } else { '?' };
        Ok(OidcRedirect { url: format!("{}{sep}{query}", d.authorization_endpoint), state })
    }

    /// The browser is back with `code` and `state`: exchange the code,
    /// validate the ID token, link the account and begin a session.
    pub async fn oidc_finish(
        &self,
        name: &str,
        code: &str,
        state: &str,
        redirect_uri: &str,
        client: &str,
        user_agent: &str,
    ) -> Result<SignedIn, Denied> {
        let idp = self.idp(name)?;
        let expired = || Denied::Unauthenticated("this sign-in has expired or was used: start again / 登录已过期，请重新登录".into());
        if state.is_empty() || state.len() > 128 || code.is_empty() || code.len() > 4096 {
            return Err(expired());
        }
        let login = self.index().take_oidc_login(&digest(state)).await?.ok_or_else(expired)?;
        if login.provider != name || now_ms() - login.created_ms > LOGIN_TTL_MS {
            return Err(expired());
        }
        let d = self.idps().discovery(idp).await?;
        let p = &idp.config;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", login.verifier.as_str()),
        ];
        let secret = p.client_secret.as_deref().filter(|s| !s.is_empty());
        if secret.is_none() {
            form.push(("client_id", p.client_id.as_str()));
        }
        let answer = self.idps().post_form(&d.token_endpoint, &form, secret.map(|s| (p.client_id.as_str(), s))).await?;
        let id_token = answer
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or_else(|| Denied::Unauthenticated("the identity provider sent no ID token".into()))?;
        let claims = self.idps().validate(idp, id_token, &p.client_id).await?;
        let auds = claims.get("aud").map(strings).unwrap_or_default();
        if auds.len() > 1 && claims.get("azp").and_then(Value::as_str) != Some(p.client_id.as_str()) {
            return Err(Denied::Unauthenticated("invalid ID token: issued to another party (azp)".into()));
        }
        let nonce = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
        if nonce.len() != login.nonce.len() || nonce.bytes().zip(login.nonce.bytes()).fold(0u8, |d, (a, b)| d | (a ^ b)) != 0 {
            return Err(Denied::Unauthenticated("invalid ID token: wrong nonce".into()));
        }
        let user = self.link_account(idp, &claims, true, client).await?;
        self.start_session(&user, false, client, user_agent, &format!("identity provider {name}")).await
    }

    /// The principal a provider's JWT access token proves (a bearer token
    /// of three base64url parts).
    pub async fn authenticate_jwt(&self, token: &str) -> Result<Principal, Denied> {
        let invalid = || Denied::Unauthenticated("invalid bearer token".into());
        let peek: Map<String, Value> = jsonwebtoken::dangerous::insecure_decode(token).map(|d| d.claims).map_err(|_| invalid())?;
        // The unverified `iss` only picks whose keys to check with.
        let iss = peek.get("iss").and_then(Value::as_str).ok_or_else(invalid)?;
        let idp = self.idps().by_issuer(iss).ok_or_else(invalid)?;
        let claims = self.idps().validate(idp, token, idp.config.audience()).await?;
        let user = self.link_account(idp, &claims, false, "").await?;
        Ok(principal_of(&user))
    }

    /// The account linked to the claims' subject at `idp`: created on first
    /// sight, refreshed from the claims when they say something new.
    async fn link_account(&self, idp: &Idp, claims: &Map<String, Value>, sign_in: bool, client: &str) -> Result<UserRow, Denied> {
        let p = &idp.config;
        let m = map_claims(p, claims, sign_in)?;
        let index = self.index();
        let mut user = index.user_by_oidc(&p.issuer, &m.subject).await?;
        if user.is_none() {
            let now = now_ms();
            let mut row = UserRow {
                user_id: format!("u{}", random_id(8)),
                username: m.username.clone(),
                display_name: m.display_name.clone(),
                institution: m.institution.clone().flatten(),
                roles: roles_text(m.roles.as_deref().unwrap_or(&[])),
                oidc_issuer: Some(p.issuer.clone()),
                oidc_subject: Some(m.subject.clone()),
                created_ms: now,
                created_by: format!("oidc:{}", p.name),
                ..Default::default()
            };
            if index.user_by_name(&row.username).await?.is_some() {
                // Never linked by name: a local account (or another
                // provider's) keeps it.
                row.username = format!("{}:{}", p.name, m.subject).chars().take(200).collect();
            }
            if index.insert_user(&row).await? {
                let detail =
                    format!("account {} via {} roles {}", row.user_id, p.name, if row.roles.is_empty() { "-" } else { &row.roles });
                self.record(&format!("person:{}", row.user_id), "account-created", &[], "", client, "ok", &detail).await;
            }
            user = index.user_by_oidc(&p.issuer, &m.subject).await?;
        }
        let Some(mut user) = user else { return Err(Denied::Unavailable("the linked account could not be stored".into())) };
        if user.disabled {
            self.record(&format!("person:{}", user.user_id), "sign-in", &[], "", client, "denied", "account disabled").await;
            return Err(Denied::Unauthenticated("this account is disabled / 账户已停用".into()));
        }
        if !m.dropped_admin.is_empty() {
            let names = roles_text(&m.dropped_admin);
            self.record(
                &format!("person:{}", user.user_id),
                "roles-dropped",
                &[],
                "",
                client,
                "denied",
                &format!("{} may not give {names}", p.name),
            )
            .await;
        }
        let roles = m.roles.as_ref().map(|r| roles_text(r)).filter(|r| *r != roles_text(&roles_of(&user.roles)));
        let institution = m.institution.clone().filter(|i| *i != user.institution);
        let display = (m.display_name != user.display_name).then_some(m.display_name.as_str());
        if roles.is_some() || institution.is_some() || display.is_some() {
            index
                .refresh_user(
                    &user.user_id,
                    display.unwrap_or(&user.display_name),
                    institution.as_ref().map(|i| i.as_deref()),
                    roles.as_deref(),
                )
                .await?;
            if let Some(r) = &roles {
                let detail = format!("account {}: {} -> {} (from {})", user.user_id, user.roles, r, p.name);
                self.record(&format!("oidc:{}", p.name), "roles-changed", &[], "", client, "ok", &detail).await;
            }
            user = index.user(&user.user_id).await?.ok_or_else(|| Denied::Unavailable("the linked account vanished".into()))?;
        }
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> OidcProvider {
        toml_like(serde_json::json!({
            "name": "corp", "issuer": "https://idp.example.cn", "client_id": "yunying",
            "roles_claim": "realm_access.roles", "institution_claim": "org",
            "role_map": {"PACS-Reader": "radiologist", "PACS-Admin": "system-admin", "Tech": "technologist"}
        }))
    }

    fn toml_like(v: Value) -> OidcProvider {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn claims_map_to_roles_and_institution() {
        let p = provider();
        p.validate().unwrap();
        let claims = serde_json::json!({"sub": "s1", "preferred_username": "li", "org": "A",
            "realm_access": {"roles": ["PACS-Reader", "Tech", "unrelated"]}});
        let m = map_claims(&p, claims.as_object().unwrap(), true).unwrap();
        assert_eq!(m.roles.unwrap(), vec![Role::Radiologist, Role::Technologist]);
        assert_eq!(m.institution, Some(Some("A".into())));
        assert_eq!(m.username, "li");
        // Administrator roles need the provider's word that it checks a second factor.
        let claims = serde_json::json!({"sub": "s2", "realm_access": {"roles": ["PACS-Admin"]}});
        let m = map_claims(&p, claims.as_object().unwrap(), true).unwrap();
        assert!(m.roles.unwrap().is_empty());
        assert_eq!(m.dropped_admin, vec![Role::SystemAdmin]);
        // An access token without the claims leaves them as they are.
        let m = map_claims(&p, serde_json::json!({"sub": "s3"}).as_object().unwrap(), false).unwrap();
        assert!(m.roles.is_none() && m.institution.is_none());
        assert!(map_claims(&p, serde_json::json!({"sub": ""}).as_object().unwrap(), true).is_err());
    }

    #[test]
    fn provider_settings_are_checked() {
        let mut p = provider();
        p.issuer = "http://idp.example.cn".into();
        assert!(p.validate().is_err(), "plain http off this machine");
        let mut p = provider();
        p.role_map.insert("x".into(), "superuser".into());
        assert!(p.validate().is_err());
        assert_eq!(provider().secret_env_var(), "YUNYING_OIDC_CORP_CLIENT_SECRET");
    }
}
