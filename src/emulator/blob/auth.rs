//! Who may do what: Shared Key (`Authorization: SharedKey account:signature` with a date
//! within 15 minutes), a Microsoft Entra ID bearer token (`Authorization: Bearer`, checked by
//! the emulator's Entra ID), or a SAS in the query (service SAS `sr=c`/`sr=b`, account SAS
//! with `ss` including `b`, or a user delegation SAS signed with a key from Get User
//! Delegation Key); then the SAS's permissions, resource types, times, IP range and protocol,
//! and a token's or delegation's data role, against the operation. With Shared Key disabled,
//! Shared Key and key-signed SAS get 403 KeyBasedAuthenticationNotPermitted. Signing rules
//! live in `crate::azure::auth`.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::error::BlobError;
use super::ops::{Level, Op};
use crate::azure::auth::{
    DelegationKey, RequestParts, SasFields, Service, SharedKeyCredential, http_date,
    parse_http_date, parse_sas_time, sas_time, string_to_sign,
};
use crate::emulator::entra::{self, DEV_TENANT_ID, EntraService, STORAGE_AUDIENCE, StorageRole};

/// How far a Shared Key request's date may be from the server's clock.
const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;

/// What authenticated a request.
#[derive(Debug, Clone)]
pub enum Grant {
    SharedKey,
    Sas(Box<SasFields>),
    /// A valid bearer token, and the data role its identity holds.
    Entra {
        oid: String,
        tid: String,
        role: Option<StorageRole>,
    },
    /// A valid user delegation SAS, and the data role of the identity whose key signed it.
    DelegatedSas(Box<SasFields>, Option<StorageRole>),
}

impl Grant {
    /// Whether the grant includes SAS permission `letter` (Shared Key includes everything, a
    /// token what its role allows).
    pub fn allows(&self, letter: char) -> bool {
        match self {
            Grant::SharedKey => true,
            Grant::Sas(f) => f.permissions.contains(letter),
            Grant::DelegatedSas(f, role) => {
                f.permissions.contains(letter) && role_allows(*role, letter)
            }
            Grant::Entra { role, .. } => role_allows(*role, letter),
        }
    }

    pub fn sas(&self) -> Option<&SasFields> {
        match self {
            Grant::SharedKey | Grant::Entra { .. } => None,
            Grant::Sas(f) | Grant::DelegatedSas(f, _) => Some(f),
        }
    }
}

fn role_allows(role: Option<StorageRole>, letter: char) -> bool {
    match role {
        Some(StorageRole::Contributor) => true,
        Some(StorageRole::Reader) => "rl".contains(letter),
        None => false,
    }
}

/// What the account accepts besides SAS: Shared Key (unless disabled), and bearer tokens of
/// the emulator's Entra ID.
#[derive(Clone, Copy)]
pub struct Authority<'a> {
    pub shared_key: bool,
    pub entra: Option<&'a EntraService>,
}

#[cfg(any(test, feature = "fuzzing"))]
impl Authority<'_> {
    /// Shared Key and key-signed SAS only.
    pub const KEYS_ONLY: Authority<'static> = Authority {
        shared_key: true,
        entra: None,
    };
}

/// The parts of a request that authentication looks at.
pub struct AuthRequest<'a> {
    pub method: &'a str,
    pub raw_path: &'a str,
    pub raw_query: &'a str,
    pub headers: Vec<(&'a str, &'a str)>,
    pub query: &'a [(String, String)],
    pub container: Option<&'a str>,
    pub blob: Option<&'a str>,
    /// The client's address (for `sip`); `None` if unknown.
    pub peer: Option<IpAddr>,
    /// The emulator serves plain HTTP only.
    pub https: bool,
}

impl AuthRequest<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// Authenticates the request with Shared Key or a key-signed SAS only.
#[cfg(any(test, feature = "fuzzing"))]
pub fn authenticate(
    cred: &SharedKeyCredential,
    req: &AuthRequest<'_>,
    now: DateTime<Utc>,
) -> Result<Grant, BlobError> {
    authenticate_with(cred, Authority::KEYS_ONLY, req, now)
}

/// Authenticates the request: by its `Authorization` header (a bearer token, or Shared Key),
/// else by a SAS, else 403 AuthenticationFailed (the emulator allows no anonymous access).
pub fn authenticate_with(
    cred: &SharedKeyCredential,
    authority: Authority<'_>,
    req: &AuthRequest<'_>,
    now: DateTime<Utc>,
) -> Result<Grant, BlobError> {
    if let Some(auth) = req.header("authorization") {
        if let Some(token) = entra::bearer(auth) {
            let Some(e) = authority.entra else {
                return Err(BlobError::auth_failed(
                    "Bearer tokens are not accepted here: use SharedKey or a SAS.",
                ));
            };
            let own = format!("https://{}.blob.core.windows.net", cred.account());
            let audiences = [STORAGE_AUDIENCE, "https://storage.azure.com/", own.as_str()];
            return match e.validate(token, &audiences, now) {
                Ok(p) => Ok(Grant::Entra {
                    role: e.storage_role(&p.oid),
                    oid: p.oid,
                    tid: p.tid,
                }),
                Err(te) => Err(BlobError::token_refused(
                    te.detail(),
                    entra::challenge(e, STORAGE_AUDIENCE),
                )),
            };
        }
        if !authority.shared_key {
            return Err(BlobError::key_not_permitted());
        }
        shared_key(cred, req, auth, now)?;
        return Ok(Grant::SharedKey);
    }
    match SasFields::from_query(req.query) {
        Some(f) if f.delegation.is_some() => {
            let role = delegated_sas(cred, authority, req, &f, now)?;
            Ok(Grant::DelegatedSas(Box::new(f), role))
        }
        Some(_) if !authority.shared_key => Err(BlobError::key_not_permitted()),
        Some(f) => {
            sas(cred, req, &f, now, None)?;
            Ok(Grant::Sas(Box::new(f)))
        }
        None => Err(BlobError::no_auth()),
    }
}

/// A user delegation SAS: the key's tenant, service and validity, then the SAS signed with
/// the key the emulator derives from the SAS's key fields. Returns the signer's data role.
fn delegated_sas(
    cred: &SharedKeyCredential,
    authority: Authority<'_>,
    req: &AuthRequest<'_>,
    f: &SasFields,
    now: DateTime<Utc>,
) -> Result<Option<StorageRole>, BlobError> {
    let Some(e) = authority.entra else {
        return Err(BlobError::auth_failed(
            "User delegation SAS is not accepted here: sign the SAS with the account key.",
        ));
    };
    let d = f.delegation.as_deref().cloned().unwrap_or_default();
    if f.is_account_sas() {
        return Err(BlobError::auth_failed(
            "A user delegation SAS must be a service SAS (sr), not an account SAS.",
        ));
    }
    if d.oid.is_empty() || d.tid != DEV_TENANT_ID {
        return Err(BlobError::auth_failed(format!(
            "The user delegation key's signed tenant (sktid) '{}' is not the account's tenant.",
            d.tid
        )));
    }
    if !d.key_service.contains('b') {
        return Err(BlobError::auth_failed(
            "The user delegation key's signed service (sks) must be b.",
        ));
    }
    let (Some(start), Some(expiry)) = (parse_sas_time(&d.key_start), parse_sas_time(&d.key_expiry))
    else {
        return Err(BlobError::auth_failed(
            "The user delegation key's start (skt) or expiry (ske) is not a valid time.",
        ));
    };
    if now < start || now > expiry {
        return Err(BlobError::auth_failed(format!(
            "The user delegation key is not valid at this time: Start [{}] - Expiry [{}] - Current [{}]",
            http_date(start),
            http_date(expiry),
            http_date(now)
        )));
    }
    let key = DelegationKey {
        value: e.delegation_key_value(
            &d.oid,
            &d.tid,
            &sas_time(start),
            &sas_time(expiry),
            &d.key_service,
            &d.key_version,
        ),
        oid: d.oid.clone(),
        tid: d.tid,
        start: d.key_start,
        expiry: d.key_expiry,
        service: d.key_service,
        version: d.key_version,
    };
    sas(cred, req, f, now, Some(&key))?;
    Ok(e.storage_role(&d.oid))
}

fn shared_key(
    cred: &SharedKeyCredential,
    req: &AuthRequest<'_>,
    auth: &str,
    now: DateTime<Utc>,
) -> Result<(), BlobError> {
    let Some(rest) = auth.strip_prefix("SharedKey ") else {
        return Err(BlobError::auth_failed(
            "The authorization scheme is not supported: use SharedKey or a SAS.",
        ));
    };
    let account = rest.rsplit_once(':').map(|(a, _)| a.trim()).unwrap_or("");
    if account != cred.account() {
        return Err(BlobError::auth_failed(format!(
            "The account '{account}' in the Authorization header is not this account ('{}').",
            cred.account()
        )));
    }
    let date = req
        .header("x-ms-date")
        .or_else(|| req.header("date"))
        .ok_or_else(|| {
            BlobError::auth_failed("Request date header not specified: send x-ms-date or Date.")
        })?;
    let when = parse_http_date(date).ok_or_else(|| {
        BlobError::auth_failed(format!("Request date header not valid: '{date}'"))
    })?;
    let skew = (now - when).num_seconds();
    if skew > MAX_CLOCK_SKEW_SECS {
        return Err(BlobError::auth_failed(format!(
            "Request date header too old: '{date}'"
        )));
    }
    if skew < -MAX_CLOCK_SKEW_SECS {
        return Err(BlobError::auth_failed(format!(
            "Request date header too far in the future: '{date}'"
        )));
    }
    let parts = RequestParts {
        method: req.method,
        raw_path: req.raw_path,
        raw_query: req.raw_query,
        headers: req.headers.clone(),
    };
    if cred.verify_authorization(Service::Blob, &parts, auth) {
        Ok(())
    } else {
        let sts = string_to_sign(Service::Blob, cred.account(), &parts);
        Err(BlobError::auth_failed(format!(
            "The MAC signature found in the HTTP request is not the same as any computed signature. Server used following string to sign: '{sts}'."
        )))
    }
}

/// A SAS signed with the account key, or with `delegation`'s key for a user delegation SAS.
fn sas(
    cred: &SharedKeyCredential,
    req: &AuthRequest<'_>,
    f: &SasFields,
    now: DateTime<Utc>,
    delegation: Option<&DelegationKey>,
) -> Result<(), BlobError> {
    if f.version.is_empty() {
        return Err(BlobError::auth_failed("sv is mandatory. Cannot be empty"));
    }
    if f.version.as_str() < "2018-11-09" {
        return Err(BlobError::auth_failed(format!(
            "SAS version {} is older than the emulator supports (2018-11-09 and later).",
            f.version
        )));
    }
    if f.identifier.is_some() {
        return Err(BlobError::auth_failed(
            "Stored access policies (si) are not supported by the emulator.",
        ));
    }
    let sts = if f.is_account_sas() {
        f.account_string_to_sign(cred.account())
    } else {
        let resource = match (f.resource.as_str(), req.container, req.blob) {
            ("c", Some(c), _) => format!("/blob/{}/{c}", cred.account()),
            ("b", Some(c), Some(b)) => format!("/blob/{}/{c}/{b}", cred.account()),
            ("c" | "b", _, _) => {
                return Err(BlobError::forbidden(
                    "AuthorizationResourceTypeMismatch",
                    "resource type",
                ));
            }
            (other, _, _) => {
                return Err(BlobError::auth_failed(format!(
                    "Signed resource sr={other} is not supported by the emulator (use c or b)."
                )));
            }
        };
        match delegation {
            Some(_) => f.user_delegation_string_to_sign(&resource),
            None => f.service_string_to_sign(&resource),
        }
    };
    let valid = match delegation {
        Some(key) => key.verify(&sts, &f.signature),
        None => cred.verify(&sts, &f.signature),
    };
    if !valid {
        return Err(BlobError::auth_failed(format!(
            "Signature did not match. String to sign used was {sts}"
        )));
    }
    let expiry = parse_sas_time(&f.expiry).ok_or_else(|| {
        BlobError::auth_failed(format!("Signed expiry time '{}' is not valid.", f.expiry))
    })?;
    let start = match &f.start {
        Some(s) => Some(parse_sas_time(s).ok_or_else(|| {
            BlobError::auth_failed(format!("Signed start time '{s}' is not valid."))
        })?),
        None => None,
    };
    if now > expiry || start.is_some_and(|s| now < s) {
        return Err(BlobError::auth_failed(format!(
            "Signature not valid in the specified time frame: Start [{}] - Expiry [{}] - Current [{}]",
            start.map(http_date).unwrap_or_default(),
            http_date(expiry),
            http_date(now)
        )));
    }
    if let Some(range) = &f.ip {
        let ok = match (parse_ip_range(range), req.peer) {
            (Some((lo, hi)), Some(peer)) => ip_in(peer, lo, hi),
            (None, _) => {
                return Err(BlobError::auth_failed(format!(
                    "Signed IP '{range}' is not an address or an address range."
                )));
            }
            (_, None) => false,
        };
        if !ok {
            let ip = req.peer.map(|p| p.to_string()).unwrap_or_default();
            return Err(BlobError::new(
                axum::http::StatusCode::FORBIDDEN,
                "AuthorizationSourceIPMismatch",
                format!(
                    "This request is not authorized to perform this operation using this source IP {ip}."
                ),
            ));
        }
    }
    if let Some(p) = &f.protocol {
        let allows_http = p.split(',').any(|x| x.trim() == "http");
        if !req.https && !allows_http {
            return Err(BlobError::forbidden(
                "AuthorizationProtocolMismatch",
                "protocol",
            ));
        }
    }
    Ok(())
}

/// `a.b.c.d` or `a.b.c.d-e.f.g.h`.
pub fn parse_ip_range(s: &str) -> Option<(IpAddr, IpAddr)> {
    match s.split_once('-') {
        Some((a, b)) => Some((a.trim().parse().ok()?, b.trim().parse().ok()?)),
        None => {
            let ip: IpAddr = s.trim().parse().ok()?;
            Some((ip, ip))
        }
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

pub fn ip_in(ip: IpAddr, lo: IpAddr, hi: IpAddr) -> bool {
    let (ip, lo, hi) = (canonical(ip), canonical(lo), canonical(hi));
    match (ip, lo, hi) {
        (IpAddr::V4(i), IpAddr::V4(l), IpAddr::V4(h)) => l <= i && i <= h,
        (IpAddr::V6(i), IpAddr::V6(l), IpAddr::V6(h)) => l <= i && i <= h,
        _ => false,
    }
}

/// Whether the grant covers the operation: for a SAS, the service, the resource type and
/// one of the permissions the operation needs.
pub fn authorize(grant: &Grant, op: Op) -> Result<(), BlobError> {
    if op == Op::GetUserDelegationKey {
        return match grant {
            Grant::Entra { role: Some(_), .. } => Ok(()),
            Grant::Entra { role: None, .. } => Err(BlobError::forbidden(
                "AuthorizationPermissionMismatch",
                "permission",
            )),
            _ => Err(BlobError::auth_failed(
                "Get User Delegation Key is authorized with a Microsoft Entra ID bearer token only.",
            )),
        };
    }
    let role_covers = |role: Option<StorageRole>| match role {
        Some(StorageRole::Contributor) => true,
        Some(StorageRole::Reader) => op.reads_only(),
        None => false,
    };
    let f = match grant {
        Grant::SharedKey => return Ok(()),
        Grant::Entra { role, .. } => {
            return if role_covers(*role) {
                Ok(())
            } else {
                Err(BlobError::forbidden(
                    "AuthorizationPermissionMismatch",
                    "permission",
                ))
            };
        }
        Grant::DelegatedSas(_, role) if !role_covers(*role) => {
            return Err(BlobError::forbidden(
                "AuthorizationPermissionMismatch",
                "permission",
            ));
        }
        Grant::Sas(f) | Grant::DelegatedSas(f, _) => f,
    };
    if f.is_account_sas() {
        if !f.services.contains('b') {
            return Err(BlobError::forbidden(
                "AuthorizationServiceMismatch",
                "service",
            ));
        }
        let types_ok = if op == Op::GetAccountInfo {
            f.resource_types.chars().any(|c| "sco".contains(c))
        } else {
            f.resource_types.contains(op.level().srt_letter())
        };
        if !types_ok {
            return Err(BlobError::forbidden(
                "AuthorizationResourceTypeMismatch",
                "resource type",
            ));
        }
    } else {
        let blob_only = f.resource == "b";
        if !op.service_sas_allowed()
            || (blob_only && op.level() != Level::Object && op != Op::GetAccountInfo)
        {
            return Err(BlobError::forbidden(
                "AuthorizationResourceTypeMismatch",
                "resource type",
            ));
        }
    }
    if !op
        .sas_permissions()
        .chars()
        .any(|c| f.permissions.contains(c))
    {
        return Err(BlobError::forbidden(
            "AuthorizationPermissionMismatch",
            "permission",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::auth::{decode_query, sas_time, sign_service_sas};

    const KEY: &str =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    fn cred() -> SharedKeyCredential {
        SharedKeyCredential::new("devstoreaccount1", KEY).unwrap()
    }

    fn check(
        query: &str,
        container: Option<&str>,
        blob: Option<&str>,
        peer: &str,
    ) -> Result<Grant, BlobError> {
        let q = decode_query(query);
        let req = AuthRequest {
            method: "GET",
            raw_path: "/devstoreaccount1/c",
            raw_query: query,
            headers: vec![],
            query: &q,
            container,
            blob,
            peer: peer.parse().ok(),
            https: false,
        };
        authenticate(&cred(), &req, Utc::now())
    }

    fn container_sas(container: &str, perms: &str, expiry: DateTime<Utc>) -> String {
        sign_service_sas(&cred(), container, None, perms, None, expiry, "2026-10-06").to_query()
    }

    #[test]
    fn service_sas_is_bound_to_its_container_and_time() {
        let later = Utc::now() + chrono::Duration::hours(1);
        let q = container_sas("c1", "r", later);
        let g = check(&q, Some("c1"), Some("x"), "127.0.0.1").unwrap();
        assert!(authorize(&g, Op::GetBlob).is_ok());
        assert_eq!(
            authorize(&g, Op::PutBlob).unwrap_err().code,
            "AuthorizationPermissionMismatch"
        );
        assert_eq!(
            authorize(&g, Op::ListBlobs).unwrap_err().code,
            "AuthorizationPermissionMismatch"
        );
        assert_eq!(
            authorize(&g, Op::ListContainers).unwrap_err().code,
            "AuthorizationResourceTypeMismatch"
        );
        let other = check(&q, Some("c2"), Some("x"), "127.0.0.1").unwrap_err();
        assert_eq!(
            (other.status.as_u16(), other.code),
            (403, "AuthenticationFailed")
        );
        let expired = container_sas("c1", "r", Utc::now() - chrono::Duration::minutes(1));
        assert_eq!(
            check(&expired, Some("c1"), None, "127.0.0.1")
                .unwrap_err()
                .code,
            "AuthenticationFailed"
        );
        // A changed permission breaks the signature.
        let tampered = q.replace("sp=r", "sp=rw");
        assert_eq!(
            check(&tampered, Some("c1"), None, "127.0.0.1")
                .unwrap_err()
                .code,
            "AuthenticationFailed"
        );
    }

    #[test]
    fn account_sas_checks_service_types_ip_and_protocol() {
        let sign = |ss: &str, srt: &str, sp: &str, ip: Option<&str>, spr: Option<&str>| {
            let mut f = SasFields {
                version: "2026-10-06".into(),
                services: ss.into(),
                resource_types: srt.into(),
                permissions: sp.into(),
                expiry: sas_time(Utc::now() + chrono::Duration::hours(1)),
                ip: ip.map(str::to_string),
                protocol: spr.map(str::to_string),
                ..SasFields::default()
            };
            f.signature = cred().sign(&f.account_string_to_sign("devstoreaccount1"));
            f.to_query()
        };
        let g = check(
            &sign("b", "sco", "rl", Some("127.0.0.1"), None),
            None,
            None,
            "127.0.0.1",
        )
        .unwrap();
        assert!(authorize(&g, Op::ListContainers).is_ok());
        assert!(authorize(&g, Op::GetBlob).is_ok());
        assert_eq!(
            authorize(&g, Op::DeleteBlob).unwrap_err().code,
            "AuthorizationPermissionMismatch"
        );
        let g = check(&sign("b", "o", "rwdl", None, None), None, None, "127.0.0.1").unwrap();
        assert_eq!(
            authorize(&g, Op::ListBlobs).unwrap_err().code,
            "AuthorizationResourceTypeMismatch"
        );
        let g = check(
            &sign("q", "sco", "rwdl", None, None),
            None,
            None,
            "127.0.0.1",
        )
        .unwrap();
        assert_eq!(
            authorize(&g, Op::GetBlob).unwrap_err().code,
            "AuthorizationServiceMismatch"
        );
        let e = check(
            &sign("b", "sco", "r", Some("10.0.0.1-10.0.0.9"), None),
            None,
            None,
            "127.0.0.1",
        )
        .unwrap_err();
        assert_eq!(e.code, "AuthorizationSourceIPMismatch");
        assert!(
            check(
                &sign("b", "sco", "r", Some("10.0.0.1-10.0.0.9"), None),
                None,
                None,
                "10.0.0.5"
            )
            .is_ok()
        );
        let e = check(
            &sign("b", "sco", "r", None, Some("https")),
            None,
            None,
            "127.0.0.1",
        )
        .unwrap_err();
        assert_eq!(e.code, "AuthorizationProtocolMismatch");
        assert!(
            check(
                &sign("b", "sco", "r", None, Some("https,http")),
                None,
                None,
                "127.0.0.1"
            )
            .is_ok()
        );
    }

    #[test]
    fn missing_auth_is_403_and_shared_key_needs_a_fresh_date() {
        let e = check("", Some("c"), None, "127.0.0.1").unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (403, "AuthenticationFailed"));
        let old = http_date(Utc::now() - chrono::Duration::minutes(20));
        let headers = vec![("x-ms-date", old.as_str()), ("x-ms-version", "2026-10-06")];
        let parts = RequestParts {
            method: "GET",
            raw_path: "/devstoreaccount1/c",
            raw_query: "restype=container",
            headers: headers.clone(),
        };
        let auth = cred().authorization(Service::Blob, &parts);
        let mut all = headers;
        all.push(("authorization", auth.as_str()));
        let q = decode_query("restype=container");
        let req = AuthRequest {
            method: "GET",
            raw_path: "/devstoreaccount1/c",
            raw_query: "restype=container",
            headers: all,
            query: &q,
            container: Some("c"),
            blob: None,
            peer: None,
            https: false,
        };
        let e = authenticate(&cred(), &req, Utc::now()).unwrap_err();
        assert!(e.details[0].1.starts_with("Request date header too old"));
        // The same request signed 20 minutes ago is fine at that time.
        assert!(authenticate(&cred(), &req, Utc::now() - chrono::Duration::minutes(20)).is_ok());
    }

    #[test]
    fn ip_ranges() {
        let (lo, hi) = parse_ip_range("127.0.0.1-127.0.0.3").unwrap();
        assert!(ip_in("127.0.0.2".parse().unwrap(), lo, hi));
        assert!(ip_in("::ffff:127.0.0.2".parse().unwrap(), lo, hi));
        assert!(!ip_in("127.0.0.4".parse().unwrap(), lo, hi));
        assert!(parse_ip_range("nope").is_none());
    }
}
